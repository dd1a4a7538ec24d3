//go:build unix && !linux

package promtest

import "syscall"

// sysProcAttr puts the server in its own process group, so Stop can signal
// everything it started. Outside Linux there is no parent-death signal: a
// test binary killed before its cleanups run leaves the servers behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
