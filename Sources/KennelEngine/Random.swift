import Foundation

/// A seeded, reproducible random source (xoshiro256**, seeded through SplitMix64) whose whole state can be
/// saved in a checkpoint and restored, so a resumed run draws the same numbers.
public struct SeededRandom: RandomNumberGenerator, Sendable, Codable, Equatable {
    // Four words of state in fields, not an array: drawing is on the hot path of dropout.
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    public init(seed: UInt64) {
        var mix = seed
        func splitMix() -> UInt64 {
            mix &+= 0x9E37_79B9_7F4A_7C15
            var z = mix
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        (s0, s1, s2, s3) = (splitMix(), splitMix(), splitMix(), splitMix())
    }

    public mutating func next() -> UInt64 {
        let result = rotate(s1 &* 5, 7) &* 9
        let shifted = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= shifted
        s3 = rotate(s3, 45)
        return result
    }

    /// Uniform in [0, 1).
    public mutating func nextUnit() -> Float {
        Float(next() >> 40) * (1.0 / Float(1 << 24))
    }

    /// Standard normal (Box–Muller).
    public mutating func nextNormal() -> Float {
        var u = 0.0
        repeat { u = Double(next() >> 11) * (1.0 / Double(1 << 53)) } while u == 0
        let v = Double(next() >> 11) * (1.0 / Double(1 << 53))
        return Float((-2 * log(u)).squareRoot() * cos(2 * .pi * v))
    }

    /// Normal with `stddev`, redrawn while more than two standard deviations out (TensorFlow's truncated normal).
    public mutating func nextTruncatedNormal(stddev: Float) -> Float {
        while true {
            let z = nextNormal()
            if abs(z) <= 2 { return z * stddev }
        }
    }

    @inline(__always)
    private func rotate(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }
}
