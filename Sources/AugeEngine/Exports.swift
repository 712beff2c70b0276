// The seeded generator is part of the engine's interface (seeded weights, test networks): `import AugeEngine`
// brings it, as it did when it lived here.
@_exported import AugeRandom
