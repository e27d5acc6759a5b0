package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Measuring a client's peak RSS takes an intermediary. rusage's ru_maxrss of a
// child counts the peak RSS of the memory it had before exec, and Go starts
// children with vfork (CLONE_VM): the child's memory before exec is the parent's,
// so every child of the bench process reports at least the bench process's own
// peak (some 80 MiB after the blob workloads). So the bench starts each client
// through a fresh copy of itself in "spawn" mode, a small process that runs the
// client, waits for it and writes its rusage (os.ProcessState.SysUsage) to a file.
// What the client inherits is then the spawner's own peak, reported as the floor
// below which a client's figure means nothing (a few MiB).

// spawnArg, as the first argument, selects spawn mode:
//
//	bench __bench_spawn RESULT-FILE TOOL ARGS...
const spawnArg = "__bench_spawn"

// spawnResult is what the spawner reports about the client.
type spawnResult struct {
	Wall     time.Duration
	User     time.Duration
	Sys      time.Duration
	MaxRSS   int64 // bytes
	Floor    int64 // the spawner's own peak RSS when it started the client, bytes
	ExitCode int
}

// spawnMain is the spawner: it runs args[1:] with the spawner's standard streams,
// directory and environment, and writes a spawnResult to args[0].
func spawnMain(args []string) {
	if len(args) < 2 {
		fmt.Fprintln(os.Stderr, "spawn: want RESULT-FILE TOOL ARGS...")
		os.Exit(2)
	}
	cmd := exec.Command(args[1], args[2:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	floor, _ := procStatus(os.Getpid(), "VmHWM")
	start := time.Now()
	err := cmd.Run()
	res := spawnResult{Wall: time.Since(start), Floor: floor}
	if cmd.ProcessState == nil {
		fmt.Fprintln(os.Stderr, "spawn:", err)
		os.Exit(127)
	}
	res.User, res.Sys = cmd.ProcessState.UserTime(), cmd.ProcessState.SystemTime()
	res.ExitCode = cmd.ProcessState.ExitCode()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		res.MaxRSS = ru.Maxrss << 10 // kilobytes on Linux
	}
	b, _ := json.Marshal(res)
	if err := os.WriteFile(args[0], b, 0o600); err != nil {
		fmt.Fprintln(os.Stderr, "spawn:", err)
		os.Exit(127)
	}
	os.Exit(max(res.ExitCode, 0))
}

// runTool runs cmd through the spawner, with its output in logPath, and returns
// what the spawner measured.
func runTool(ctx context.Context, cmd *exec.Cmd, env []string, logPath string) (spawnResult, error) {
	self, err := os.Executable()
	if err != nil {
		return spawnResult{}, err
	}
	log, err := os.Create(logPath)
	if err != nil {
		return spawnResult{}, err
	}
	defer log.Close()
	resPath := logPath + ".rusage"
	_ = os.Remove(resPath)
	sp := exec.CommandContext(ctx, self, append([]string{spawnArg, resPath, cmd.Path}, cmd.Args[1:]...)...)
	sp.Dir, sp.Env = cmd.Dir, env
	sp.Stdout, sp.Stderr = log, log
	runErr := sp.Run()
	var res spawnResult
	b, err := os.ReadFile(resPath)
	if err == nil {
		err = json.Unmarshal(b, &res)
	}
	if runErr != nil || err != nil || res.ExitCode != 0 {
		out, _ := os.ReadFile(logPath)
		return res, fmt.Errorf("%s %s: %w\n%s", filepath.Base(cmd.Path), strings.Join(cmd.Args[1:], " "), errors.Join(runErr, err), tail(out, 2000))
	}
	return res, nil
}

// loadRow is the machine's load from other processes during one workload group.
type loadRow struct {
	group string
	wall  time.Duration
	cores float64 // average cores used by other processes
}

// cpuMark is a point in time with the machine's busy CPU time and the bench's own
// (its process and its reaped children: servers stopped, clients exited).
type cpuMark struct {
	t             time.Time
	machine, self float64 // seconds
}

func markCPU() cpuMark {
	m := cpuMark{t: time.Now()}
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		f := strings.Fields(line)
		// cpu user nice system idle iowait irq softirq steal ...
		for i, v := range f[1:] {
			if i == 3 || i == 4 || i >= 7 { // idle, iowait, steal and guests are not busy
				continue
			}
			var n float64
			fmt.Sscan(v, &n)
			m.machine += n / clockTicks
		}
	}
	for _, who := range []int{syscall.RUSAGE_SELF, syscall.RUSAGE_CHILDREN} {
		var ru syscall.Rusage
		if syscall.Getrusage(who, &ru) == nil {
			m.self += time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
		}
	}
	return m
}

// foreignCores is the average number of cores other processes kept busy between
// m0 and m.
func (m cpuMark) foreignCores(m0 cpuMark) float64 {
	wall := m.t.Sub(m0.t).Seconds()
	if wall <= 0 {
		return 0
	}
	return max(0, (m.machine-m0.machine)-(m.self-m0.self)) / wall
}
