//go:build unix

package main_test

import (
	"os"
	"runtime"
	"syscall"
)

// purgeMaxRSS returns the peak resident set size of a finished process, in bytes.
func purgeMaxRSS(ps *os.ProcessState) (int64, bool) {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok || ru == nil {
		return 0, false
	}
	if runtime.GOOS == "darwin" || runtime.GOOS == "ios" {
		return int64(ru.Maxrss), true // bytes there, kilobytes elsewhere
	}
	return int64(ru.Maxrss) * 1024, true
}
