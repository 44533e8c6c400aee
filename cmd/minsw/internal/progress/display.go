package progress

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// Plain prints nothing while waiting but the lines of a slot that reports
// an error (so a log shows why), and the final view at the end: the output
// for pipes and files.
type Plain struct {
	Out  io.Writer
	errs map[string]string
}

// Update prints slot errors as they appear.
func (p *Plain) Update(v View) {
	if p.errs == nil {
		p.errs = map[string]string{}
	}
	for _, s := range v.Status.Slots {
		if s.Err != "" && p.errs[s.Label] != s.Err {
			fmt.Fprintln(p.Out, s.Line())
		}
		p.errs[s.Label] = s.Err
	}
}

// Close prints the final view.
func (p *Plain) Close(v View, _ error) {
	fmt.Fprintln(p.Out, strings.Join(v.Lines(), "\n"))
}

// Terminal redraws the view in place with mpb: one line for the overall
// count, one bar per slot, one verify line.
type Terminal struct {
	p *mpb.Progress

	mu      sync.Mutex
	view    View
	overall *mpb.Bar
	verify  *mpb.Bar
	rollbk  *mpb.Bar
	slots   map[string]*mpb.Bar
	order   int
}

// NewTerminal starts drawing on out; the caller has checked that out is a
// terminal (cursor movements are written regardless).
func NewTerminal(out io.Writer) *Terminal {
	t := &Terminal{
		p:     mpb.New(mpb.WithOutput(out), mpb.ForceTTY(), mpb.WithAutoRefresh(), mpb.WithWidth(120), mpb.WithRefreshRate(100*time.Millisecond)),
		slots: map[string]*mpb.Bar{},
	}
	t.overall = t.text(-1, func(v View) string { return v.Status.Overall() })
	return t
}

// text adds a line whose content is computed from the current view.
func (t *Terminal) text(priority int, f func(View) string) *mpb.Bar {
	return t.p.New(1, mpb.NopStyle(), mpb.BarPriority(priority), mpb.BarFillerTrim(),
		mpb.PrependDecorators(decor.Any(func(decor.Statistics) string {
			t.mu.Lock()
			defer t.mu.Unlock()
			return f(t.view)
		})))
}

func (t *Terminal) slot(label string) (Slot, bool) {
	for _, s := range t.view.Status.Slots {
		if s.Label == label {
			return s, true
		}
	}
	return Slot{}, false
}

// Update adds bars for new slots and moves them to their task's step.
func (t *Terminal) Update(v View) {
	t.mu.Lock()
	t.view = v
	var added []string
	for _, s := range v.Status.Slots {
		if _, ok := t.slots[s.Label]; !ok && s.State != "" {
			added = append(added, s.Label)
		}
	}
	t.mu.Unlock()

	for _, label := range added {
		b := t.slotBar(label)
		t.mu.Lock()
		t.slots[label] = b
		t.mu.Unlock()
	}
	// mpb draws in its own goroutines, through decorators that take t.mu:
	// a bar is moved, and a line added, without holding it, or a redraw
	// waiting for t.mu and SetCurrent waiting for the redraw deadlock.
	t.mu.Lock()
	steps := make(map[*mpb.Bar]int64, len(t.slots))
	for label, b := range t.slots {
		s, _ := t.slot(label)
		steps[b] = s.Step
	}
	addRollback := v.Rollback != "" && t.rollbk == nil
	addVerify := v.Verify != "" && t.verify == nil
	t.mu.Unlock()
	for b, step := range steps {
		b.SetCurrent(step)
	}
	if addRollback {
		b := t.text(1<<19, func(v View) string { return v.Rollback })
		t.mu.Lock()
		t.rollbk = b
		t.mu.Unlock()
	}
	if addVerify {
		b := t.text(1<<20, func(v View) string { return v.Verify })
		t.mu.Lock()
		t.verify = b
		t.mu.Unlock()
	}
}

// slotBar adds the line of a slot: its label and state, then its bar
// (or its error instead).
func (t *Terminal) slotBar(label string) *mpb.Bar {
	t.order++
	style := mpb.BarStyle().Lbound("[").Filler("=").Tip(">").TipOnComplete().Padding(" ").Rbound("]")
	return t.p.New(TotalSteps, style, mpb.BarPriority(t.order), mpb.BarWidth(53), mpb.BarFillerTrim(),
		mpb.BarFillerMiddleware(func(base mpb.BarFiller) mpb.BarFiller {
			return mpb.BarFillerFunc(func(w io.Writer, st decor.Statistics) error {
				t.mu.Lock()
				s, _ := t.slot(label)
				t.mu.Unlock()
				if s.Err != "" || s.State == "" {
					return nil // the decorator says it all
				}
				return base.Fill(w, st)
			})
		}),
		mpb.PrependDecorators(decor.Any(func(decor.Statistics) string {
			t.mu.Lock()
			defer t.mu.Unlock()
			s, ok := t.slot(label)
			switch {
			case !ok:
				return label + ":"
			case s.Err != "":
				return s.Line()
			}
			return fmt.Sprintf("%s: %-*s ", s.Label, stateWidth, s.State)
		})))
}

// Close draws the last view and stops redrawing.
func (t *Terminal) Close(v View, _ error) {
	t.Update(v)
	t.mu.Lock()
	bars := []*mpb.Bar{t.overall}
	for _, b := range []*mpb.Bar{t.verify, t.rollbk} {
		if b != nil {
			bars = append(bars, b)
		}
	}
	for _, b := range t.slots {
		bars = append(bars, b)
	}
	t.mu.Unlock()
	for _, b := range bars {
		b.Abort(false) // keep the last frame on screen
	}
	t.p.Wait()
}
