//go:build !unix

package main_test

import "os"

// purgeMaxRSS is not available here: the memory check is skipped.
func purgeMaxRSS(*os.ProcessState) (int64, bool) { return 0, false }
