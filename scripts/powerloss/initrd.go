package powerloss

import (
	"bytes"
	"crypto/sha256"
	"debug/elf"
	_ "embed"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// initScript is the VM's /init.
//
//go:embed init.sh
var initScript []byte

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
	if err := os.Rename(tmp, name); err != nil {
		return "", err
	}
	// Older bases (another kernel, busybox or /init) are not used again.
	if old, _ := filepath.Glob(filepath.Join(cache, "initrd-base-*.cpio")); len(old) > 1 {
		for _, o := range old {
			if o != name {
				os.Remove(o)
			}
		}
	}
	return name, nil
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
