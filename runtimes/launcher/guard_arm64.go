package main

const (
	auditArch  = 0xc00000b7 // AUDIT_ARCH_AARCH64
	sysClone3  = 435
	sysSeccomp = 277
)
