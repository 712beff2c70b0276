// AugeTrain: see README.md, Architecture.
