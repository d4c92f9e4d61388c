//go:build tools

// Package tools names the command the lab builds (flanneld) so that `go mod tidy` keeps it.
package tools

import _ "github.com/flannel-io/flannel"
