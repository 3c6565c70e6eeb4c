package powerloss

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// kernelModules are the modules the VM needs for a virtio disk with ext4,
// in load order (Debian's 6.1 kernel builds them as modules). insmod in
// this order needs no depmod.
var kernelModules = []string{
	"virtio_ring", "virtio", "virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_pci",
	"virtio_blk", "crc32c_generic", "crc16", "mbcache", "jbd2", "ext4",
}

// ErrNoKernel means no kernel package was found in the cache directory:
// scripts/install-deps.sh downloads one.
var ErrNoKernel = errors.New("no linux-image .deb in the cache; run scripts/install-deps.sh (make deps)")

// Kernel is a kernel extracted from a Debian package: an uncompressed
// vmlinux (qemu boots its PVH entry directly, skipping the decompressor,
// which is slow under TCG) and the modules of kernelModules.
type Kernel struct {
	Package string // the .deb's file name: package, version and arch
	Vmlinux string
	Modules string // directory of <name>.ko
}

// FindKernelDeb returns the newest linux-image-*.deb in dir.
func FindKernelDeb(dir string) (string, error) {
	debs, _ := filepath.Glob(filepath.Join(dir, "linux-image-*_amd64.deb"))
	var keep []string
	for _, d := range debs {
		if !strings.Contains(filepath.Base(d), "-dbg_") {
			keep = append(keep, d)
		}
	}
	if len(keep) == 0 {
		return "", ErrNoKernel
	}
	sort.Slice(keep, func(i, j int) bool { return naturalLess(keep[i], keep[j]) })
	return keep[len(keep)-1], nil
}

// naturalLess orders names with numbers by value: 6.1.0-9 before 6.1.0-10.
func naturalLess(a, b string) bool {
	for a != "" && b != "" {
		na, ra := leadingNumber(a)
		nb, rb := leadingNumber(b)
		switch {
		case na != "" && nb != "":
			if len(na) != len(nb) {
				return len(na) < len(nb)
			}
			if na != nb {
				return na < nb
			}
			a, b = ra, rb
		case a[0] != b[0]:
			return a[0] < b[0]
		default:
			a, b = a[1:], b[1:]
		}
	}
	return len(a) < len(b)
}

// leadingNumber splits s into its leading digits (without leading zeros)
// and the rest.
func leadingNumber(s string) (num, rest string) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return "", s
	}
	return strings.TrimLeft(s[:i], "0"), s[i:]
}

// PrepareKernel extracts deb into cache/kernel-<deb name>/ once: the
// vmlinux and the modules, read from `dpkg-deb --fsys-tarfile` (nothing is
// installed on the host).
func PrepareKernel(deb, cache string) (Kernel, error) {
	name := strings.TrimSuffix(filepath.Base(deb), ".deb")
	dir := filepath.Join(cache, "kernel-"+name)
	k := Kernel{Package: name, Vmlinux: filepath.Join(dir, "vmlinux"), Modules: filepath.Join(dir, "modules")}
	if _, err := os.Stat(filepath.Join(dir, "done")); err == nil {
		return k, nil
	}
	if err := os.RemoveAll(dir); err != nil {
		return k, err
	}
	if err := os.MkdirAll(k.Modules, 0o755); err != nil {
		return k, err
	}
	bz, err := extractDeb(deb, k.Modules)
	if err != nil {
		return k, err
	}
	if err := decompressKernel(bz, k.Vmlinux); err != nil {
		return k, err
	}
	if err := os.WriteFile(filepath.Join(dir, "done"), nil, 0o644); err != nil {
		return k, err
	}
	// Kernels extracted from older packages are not used again.
	old, _ := filepath.Glob(filepath.Join(cache, "kernel-*"))
	for _, o := range old {
		if o != dir {
			os.RemoveAll(o)
		}
	}
	return k, nil
}

// extractDeb writes the wanted modules into modDir and returns the
// compressed kernel (boot/vmlinuz-*).
func extractDeb(deb, modDir string) ([]byte, error) {
	cmd := exec.Command("dpkg-deb", "--fsys-tarfile", deb)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("dpkg-deb: %w", err)
	}
	want := map[string]bool{}
	for _, m := range kernelModules {
		want[m+".ko"] = true
	}
	var bz []byte
	tr := tar.NewReader(out)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			return nil, fmt.Errorf("reading %s: %w", deb, err)
		}
		base := path.Base(h.Name)
		switch {
		case strings.HasPrefix(h.Name, "./boot/vmlinuz-"):
			if bz, err = io.ReadAll(tr); err != nil {
				return nil, err
			}
		case want[base] && strings.Contains(h.Name, "/lib/modules/"):
			delete(want, base)
			if err := writeFrom(filepath.Join(modDir, base), tr); err != nil {
				return nil, err
			}
		}
	}
	if err := cmd.Wait(); err != nil {
		return nil, fmt.Errorf("dpkg-deb --fsys-tarfile %s: %w: %s", deb, err, stderr.Bytes())
	}
	if bz == nil {
		return nil, fmt.Errorf("%s has no boot/vmlinuz-*", deb)
	}
	if len(want) > 0 {
		return nil, fmt.Errorf("%s lacks modules %v (built in? then drop them from kernelModules)", deb, keys(want))
	}
	return bz, nil
}

func writeFrom(name string, r io.Reader) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// bzPayload returns the compressed payload of an x86 bzImage, located by
// its setup header (Documentation/arch/x86/boot.rst: setup_sects at 0x1f1,
// payload_offset and payload_length at 0x248, relative to the protected-mode
// code that follows the setup sectors).
func bzPayload(bz []byte) ([]byte, error) {
	if len(bz) < 0x250 || string(bz[0x202:0x206]) != "HdrS" {
		return nil, errors.New("not a bzImage")
	}
	setup := int(bz[0x1f1])
	if setup == 0 {
		setup = 4
	}
	off := uint64(setup+1)*512 + uint64(binary.LittleEndian.Uint32(bz[0x248:]))
	n := uint64(binary.LittleEndian.Uint32(bz[0x24c:]))
	if off+n > uint64(len(bz)) {
		return nil, errors.New("bzImage payload runs past the file")
	}
	return bz[off : off+n], nil
}

// decompressKernel writes the vmlinux ELF inside bz to dst. Debian builds
// its kernels with CONFIG_KERNEL_XZ.
func decompressKernel(bz []byte, dst string) error {
	p, err := bzPayload(bz)
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(p, []byte("\xfd7zXZ\x00")) {
		return fmt.Errorf("kernel payload is not xz (starts %x): add its decompressor here", p[:min(6, len(p))])
	}
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer f.Close()
	cmd := exec.Command("xz", "-dc", "--single-stream")
	var stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(p), f, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("xz -d kernel: %w: %s", err, stderr.Bytes())
	}
	if _, err := elf.Open(dst); err != nil {
		return fmt.Errorf("decompressed kernel: %w", err)
	}
	return f.Close()
}
