// AugeInspect: see README.md, Architecture.
