// Package packages holds the tests of Tether's Debian packages
// (scripts/package-deb.sh, `make packages`): install, upgrade, remove and
// purge on the machine that runs them, with the units checked by
// systemd-analyze. See docs/packages.md.
package packages
