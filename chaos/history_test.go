package chaos

import (
	"math"
	"testing"
	"time"
)

func op(kind Kind, key, expect, value string, res Result, outVal string, call, ret int64) Op {
	return Op{In: Input{Kind: kind, Key: key, Expect: expect, Value: value}, Out: Output{Result: res, Value: outVal}, Call: call, Return: ret}
}

func TestCheckerSeesWhatItMust(t *testing.T) {
	cases := []struct {
		name  string
		ops   []Op
		final map[string]string
		lin   string
		stale int
		lost  int
	}{
		{"a clean chain", []Op{
			op(Create, "k", "", "a", OK, "", 0, 10),
			op(Read, "k", "", "", OK, "a", 11, 12),
			op(Update, "k", "a", "b", OK, "", 13, 20),
			op(Read, "k", "", "", OK, "b", 21, 22),
		}, map[string]string{"k": "b"}, "yes", 0, 0},
		{"a read of the replaced value after the ack is stale", []Op{
			op(Create, "k", "", "a", OK, "", 0, 10),
			op(Update, "k", "a", "b", OK, "", 13, 20),
			op(Read, "k", "", "", OK, "a", 21, 22),
		}, map[string]string{"k": "b"}, "NO", 1, 0},
		{"not found after an acknowledged create is stale", []Op{
			op(Create, "k", "", "a", OK, "", 0, 10),
			op(Read, "k", "", "", NotFound, "", 11, 12),
		}, map[string]string{"k": "a"}, "NO", 1, 0},
		{"an acknowledged write missing at the end is lost", []Op{
			op(Create, "k", "", "a", OK, "", 0, 10),
			op(Update, "k", "a", "b", OK, "", 13, 20),
		}, map[string]string{"k": "a"}, "yes", 0, 1},
		{"an unknown write may have happened", []Op{
			op(Create, "k", "", "a", OK, "", 0, 10),
			op(Update, "k", "a", "b", Unknown, "", 11, math.MaxInt64),
			op(Read, "k", "", "", OK, "b", 30, 31),
			op(Update, "k", "b", "c", OK, "", 32, 40),
		}, map[string]string{"k": "c"}, "yes", 0, 0},
		{"an unknown write may not have happened", []Op{
			op(Create, "k", "", "a", OK, "", 0, 10),
			op(Update, "k", "a", "b", Unknown, "", 11, math.MaxInt64),
			op(Read, "k", "", "", OK, "a", 30, 31),
		}, map[string]string{"k": "a"}, "yes", 0, 0},
		{"a write reported failed that took effect is caught", []Op{
			op(Create, "k", "", "a", OK, "", 0, 10),
			op(Update, "k", "a", "b", Failed, "", 11, 12),
			op(Read, "k", "", "", OK, "b", 30, 31),
		}, map[string]string{"k": "b"}, "NO", 0, 0},
		{"concurrent reads may see either side", []Op{
			op(Create, "k", "", "a", OK, "", 0, 10),
			op(Update, "k", "a", "b", OK, "", 11, 30),
			op(Read, "k", "", "", OK, "b", 12, 13),
			op(Read, "k", "", "", OK, "a", 14, 15),
		}, map[string]string{"k": "b"}, "NO", 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Linearizable(c.ops, 10*time.Second); got != c.lin {
				t.Errorf("linearizable %s, want %s", got, c.lin)
			}
			if got := StaleReads(c.ops); got != c.stale {
				t.Errorf("stale reads %d, want %d", got, c.stale)
			}
			if got := Lost(c.ops, c.final); got != c.lost {
				t.Errorf("lost %d, want %d", got, c.lost)
			}
		})
	}
}
