//go:build !((unix && !aix && !solaris) || illumos) && !windows

package fs

import (
	"os"
	"sync"
)

// held are the lock files locked in this process. This platform has no file lock
// the store uses, so the lock only excludes the writers of this process: several
// processes must not share a root here.
var held sync.Map // path -> struct{}

// tryLockFile takes the process-local lock of f's path without waiting.
func tryLockFile(f *os.File) (bool, error) {
	_, taken := held.LoadOrStore(f.Name(), struct{}{})
	return !taken, nil
}

// unlockFile releases the lock taken by tryLockFile.
func unlockFile(f *os.File) error {
	held.Delete(f.Name())
	return nil
}

// removeWhileOpen is false where file semantics are unknown: remove after closing.
const removeWhileOpen = false
