package main

const (
	auditArch  = 0xc000003e // AUDIT_ARCH_X86_64
	sysClone3  = 435
	sysSeccomp = 317
)
