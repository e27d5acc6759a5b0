package main

import (
	"io"
	"os"
	"sync"

	"github.com/acre-dev/acre/acr"
	"github.com/mattn/go-isatty"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// progress draws transfer bars on stderr when it is a terminal, and nothing
// otherwise, so scripts and CI logs stay clean.
type progress struct {
	p  *mpb.Progress
	mu sync.Mutex
}

func newProgress(w io.Writer) *progress {
	f, ok := w.(*os.File)
	if !ok || !(isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())) {
		return &progress{}
	}
	return &progress{p: mpb.New(mpb.WithOutput(w), mpb.WithWidth(40))}
}

// bar returns a callback for one transfer named name; total may be -1 if unknown.
func (p *progress) bar(name string, total int64) acr.Progress {
	if p.p == nil {
		return nil
	}
	p.mu.Lock()
	b := p.p.AddBar(max(total, 0),
		mpb.PrependDecorators(decor.Name(name, decor.WCSyncSpaceR)),
		mpb.AppendDecorators(decor.CountersKibiByte("% .1f / % .1f"), decor.Name(" "), decor.AverageSpeed(decor.SizeB1024(0), "% .1f")),
		mpb.BarRemoveOnComplete(),
	)
	p.mu.Unlock()
	return func(transferred, total int64) {
		if total > 0 {
			b.SetTotal(total, false)
		}
		b.SetCurrent(transferred)
		if total >= 0 && transferred >= total {
			b.SetTotal(total, true)
		}
	}
}

// wait lets the bars finish drawing.
func (p *progress) wait() {
	if p.p != nil {
		p.p.Wait()
	}
}
