/*
 * SPDX-FileCopyrightText: © Hypermode Inc. <hello@hypermode.com>
 * SPDX-License-Identifier: Apache-2.0
 */

package z

import (
	"fmt"
)

// Truncate would truncate the mmapped file to the given size. On Linux, we truncate
// the underlying file and then call mremap, but on other systems, we unmap first,
// then truncate, then re-map.
func (m *MmapFile) Truncate(maxSz int64) error {
	if err := m.Sync(); err != nil {
		return fmt.Errorf("while sync file: %s, error: %v\n", m.Fd.Name(), err)
	}
	// Tether's patch: a file that grows gets its new bytes allocated
	// (prealloc_linux.go), so a full disk is this error, not a fault when
	// the new pages are written.
	// The truncate then sets the exact size, as upstream (a no-op after
	// growing, unless the file was already longer than its mapping).
	if cur := int64(len(m.Data)); maxSz > cur {
		if err := growAllocated(m.Fd, cur, maxSz); err != nil {
			return fmt.Errorf("while growing file: %s to %d bytes: %w", m.Fd.Name(), maxSz, err)
		}
	}
	if err := m.Fd.Truncate(maxSz); err != nil {
		return fmt.Errorf("while truncate file: %s, error: %v\n", m.Fd.Name(), err)
	}

	var err error
	m.Data, err = mremap(m.Data, int(maxSz)) // Mmap up to max size.
	return err
}
