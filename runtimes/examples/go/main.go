package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

func main() {
	name, _ := bufio.NewReader(os.Stdin).ReadString('\n')
	fmt.Printf("Hello, %s!\n", strings.TrimSpace(name))
	if len(os.Args) > 1 {
		for _, arg := range os.Args[1:] {
			fmt.Printf("arg: %s\n", arg)
		}
		fmt.Println("Grüße, 世界 ✓")
		os.Exit(3)
	}
}
