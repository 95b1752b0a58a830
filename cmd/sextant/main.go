// Command sextant is the Sextant vector database server and tools; see
// internal/cli.
package main

import (
	"context"
	"os"

	"github.com/sextantdb/sextant/internal/cli"
)

func main() {
	os.Exit(cli.Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}
