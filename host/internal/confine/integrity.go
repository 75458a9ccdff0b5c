package confine

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
)

// VerifySHA256 hashes the file at path and compares it with want (hex,
// either case). The file must be the real plugin binary, not the shim:
// go-plugin's SecureConfig would checksum cmd.Path, which is the host itself.
func VerifySHA256(path, want string) error {
	want = strings.ToLower(strings.TrimSpace(want))
	if len(want) != sha256.Size*2 {
		return fmt.Errorf("sha256 %q for %s is not 64 hex digits; write the output of `sha256sum %s`", want, path, path)
	}
	if _, err := hex.DecodeString(want); err != nil {
		return fmt.Errorf("sha256 %q for %s is not hex; write the output of `sha256sum %s`", want, path, path)
	}
	got, err := FileSHA256(path)
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("plugin %s has sha256 %s but the config pins %s: refusing to launch it; "+
			"if this binary is the one you meant, set sha256 = %q, otherwise restore the pinned binary", path, got, want, got)
	}
	return nil
}

// FileSHA256 returns the lower-case hex SHA-256 of the file at path.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("hashing plugin: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hashing plugin %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
