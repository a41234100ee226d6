//go:build linux

package pluginhost

import (
	"os/exec"
	"syscall"
)

// dieWithHost has the kernel kill the block when the host's launching
// thread ends, so a host killed with SIGKILL leaves no block behind. The
// signal follows the thread that forked the child, not the process: see
// startLocked for why that thread lives as long as the block.
func dieWithHost(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}
