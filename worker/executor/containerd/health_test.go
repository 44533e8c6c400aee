package containerd

import (
	"testing"
	"time"
)

func TestParseImageHealthcheck(t *testing.T) {
	blob := []byte(`{"architecture":"amd64","config":{"Cmd":["/whoami"],"Healthcheck":{"Test":["CMD-SHELL","wget -qO- localhost || exit 1"],"Interval":2000000000,"Timeout":1000000000,"StartPeriod":3000000000,"Retries":4}}}`)
	h, err := parseImageHealthcheck(blob)
	if err != nil {
		t.Fatal(err)
	}
	if h == nil || h.Test[0] != "CMD-SHELL" || h.Interval != 2*time.Second || h.Timeout != time.Second || h.StartPeriod != 3*time.Second || h.Retries != 4 {
		t.Fatalf("parsed %+v", h)
	}
	if h, err := parseImageHealthcheck([]byte(`{"config":{"Cmd":["sh"]}}`)); err != nil || h != nil {
		t.Fatalf("no healthcheck: %+v %v", h, err)
	}
	if _, err := parseImageHealthcheck([]byte(`{`)); err == nil {
		t.Fatal("bad json accepted")
	}
}
