package promtest

import "syscall"

// sysProcAttr puts the server in its own process group, so Stop can signal
// everything it started, and asks the kernel to SIGKILL it when the test
// binary dies without running its cleanups. Pdeathsig fires when the OS
// thread that started the child exits; the Go runtime only ends threads
// locked by a goroutine that exits, which these tests do not do.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
