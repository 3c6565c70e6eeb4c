package powerloss

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	_ "embed"
	"encoding/binary"
	"encoding/hex"
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

//go:embed init.sh
var initScript []byte

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
	return k, os.WriteFile(filepath.Join(dir, "done"), nil, 0o644)
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

// CheckStatic returns an error unless the ELF binary at name is statically
// linked (no program interpreter): the initramfs has no libc.
func CheckStatic(name string) error {
	f, err := elf.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked", name)
		}
	}
	return nil
}

// PrepareBaseInitrd writes (once, keyed by its inputs) the part of the
// initramfs that does not change between runs: busybox, the modules, /init.
func PrepareBaseInitrd(k Kernel, busybox, busyboxVersion, cache string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n%q\n", k.Package, busyboxVersion, initScript, kernelModules)
	name := filepath.Join(cache, "initrd-base-"+hex.EncodeToString(h.Sum(nil))[:16]+".cpio")
	if _, err := os.Stat(name); err == nil {
		return name, nil
	}
	tmp := name + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp)
	c := newCpioWriter(f)
	for _, d := range []string{"bin", "dev", "proc", "sys", "data", "lib", "lib/modules"} {
		c.Dir(d)
	}
	c.CharDev("dev/console", 5, 1)
	if err := addFile(c, "bin/busybox", 0o755, busybox); err != nil {
		return "", err
	}
	c.File("init", 0o755, int64(len(initScript)), bytes.NewReader(initScript))
	order := strings.Join(kernelModules, "\n") + "\n"
	c.File("lib/modules/order", 0o644, int64(len(order)), strings.NewReader(order))
	for _, m := range kernelModules {
		if err := addFile(c, "lib/modules/"+m+".ko", 0o644, filepath.Join(k.Modules, m+".ko")); err != nil {
			return "", err
		}
	}
	if err := c.Close(); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return name, os.Rename(tmp, name)
}

func addFile(c *cpioWriter, name string, perm uint32, src string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	c.File(name, perm, st.Size(), f)
	return c.err
}

// WriteInitrd writes dst: the base initramfs followed by a second archive
// with the workload binary and its arguments (/workload, /workload.args).
func WriteInitrd(dst, base, workload string, args []string) error {
	b, err := os.ReadFile(base)
	if err != nil {
		return err
	}
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		return err
	}
	c := newCpioWriter(f)
	if err := addFile(c, "workload", 0o755, workload); err != nil {
		return err
	}
	a := strings.Join(args, " ") + "\n"
	c.File("workload.args", 0o644, int64(len(a)), strings.NewReader(a))
	if err := c.Close(); err != nil {
		return err
	}
	return f.Close()
}

// MakeDisk creates a fresh raw ext4 image of size (mkfs.ext4 syntax, e.g.
// "256M") holding an empty store/ directory, with mkfs.ext4 -d.
func MakeDisk(mkfs, img, size string) error {
	tpl, err := os.MkdirTemp(filepath.Dir(img), "disk-tpl-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tpl)
	if err := os.Mkdir(filepath.Join(tpl, "store"), 0o755); err != nil {
		return err
	}
	os.Remove(img)
	// 4 KiB blocks as on a real SD card's filesystem (mkfs picks 1 KiB for
	// small images); -E root_owner keeps root the owner whoever runs this.
	cmd := exec.Command(mkfs, "-q", "-F", "-b", "4096", "-L", "tether-pl", "-E", "root_owner=0:0", "-d", tpl, img, size)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("mkfs.ext4: %w: %s", err, b)
	}
	return nil
}
