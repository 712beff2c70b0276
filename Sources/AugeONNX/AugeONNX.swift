// AugeONNX: see README.md, Architecture.
import AugeEngine
