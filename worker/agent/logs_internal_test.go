package agent

import (
	"bytes"
	"testing"
	"time"

	"github.com/minsw/minsw/worker/executor"
)

func TestLogMessagesKeepTimesAndStreams(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 12, 0, 0, 5, time.UTC)
	ms := logMessages([]executor.LogEntry{
		{Time: t0, Line: []byte("out\n")},
		{Time: t0.Add(time.Second), Stderr: true, Line: []byte("err\n")},
		{Line: []byte("untimed\n")},
	})
	if len(ms) != 1 || len(ms[0].GetRecords()) != 3 {
		t.Fatalf("messages %v", ms)
	}
	rs := ms[0].GetRecords()
	if !rs[0].GetTime().AsTime().Equal(t0) || rs[0].GetStderr() || string(rs[0].GetData()) != "out\n" {
		t.Errorf("record 0: %v", rs[0])
	}
	if !rs[1].GetStderr() || !rs[1].GetTime().AsTime().Equal(t0.Add(time.Second)) {
		t.Errorf("record 1: %v", rs[1])
	}
	if rs[2].GetTime() != nil {
		t.Errorf("an untimed line got a time: %v", rs[2])
	}
	if logMessages(nil) != nil {
		t.Error("no entries, yet messages")
	}
}

func TestLogMessagesBoundSize(t *testing.T) {
	line := append(bytes.Repeat([]byte("y"), 99), '\n')
	var es []executor.LogEntry
	for range 1000 { // 100 KB of 100-byte lines
		es = append(es, executor.LogEntry{Line: line})
	}
	total := 0
	for _, m := range logMessages(es) {
		size := 0
		for _, r := range m.GetRecords() {
			size += len(r.GetData())
		}
		if size > maxLogChunk || size%100 != 0 {
			t.Fatalf("message of %d bytes", size)
		}
		total += size
	}
	if total != 100000 {
		t.Fatalf("sent %d bytes of 100000", total)
	}
}
