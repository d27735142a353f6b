import Testing
@testable import KennelEngine

/// Layer lists with absurd sizes once trapped (overflow in the window geometry, a failed allocation in a dense
/// layer, an overflowing LRN window while training); now each is an error naming the field, raised before
/// anything is allocated.
struct ModelLimitsTests {
    private func layers(_ middle: LayerSpec) -> [LayerSpec] {
        var dense = LayerSpec(type: "dense")
        dense.units = 2
        return [middle, LayerSpec(type: "flatten"), dense]
    }

    private func conv(filters: Int = 4, kernel: WindowSize = 3, stride: WindowSize = 1) -> LayerSpec {
        var spec = LayerSpec(type: "conv2d")
        spec.filters = filters
        spec.kernel = kernel
        spec.stride = stride
        spec.padding = .same
        return spec
    }

    static let huge: [(String, LayerSpec)] = {
        func with(_ type: String, _ change: (inout LayerSpec) -> Void) -> LayerSpec {
            var spec = LayerSpec(type: type)
            change(&spec)
            return spec
        }
        return [
            ("units", with("dense") { $0.units = 1_000_000_000_000 }),
            ("filters", with("conv2d") { $0.filters = 1 << 62; $0.kernel = 3 }),
            ("kernel", with("conv2d") { $0.filters = 4; $0.kernel = WindowSize(Int.max, 3) }),
            ("stride", with("conv2d") { $0.filters = 4; $0.kernel = 3; $0.stride = WindowSize(Int.max, Int.max) }),
            ("size", with("maxpool") { $0.size = WindowSize(Int.max, Int.max) }),
            ("stride", with("avgpool") { $0.size = 2; $0.stride = WindowSize(2, Int.max - 1) }),
            ("depth_radius", with("lrn") { $0.depthRadius = Int.max }),
            ("parameters", with("dense") { $0.units = 60_000 }),
            ("output", with("conv2d") { $0.filters = 60_000; $0.kernel = 1 }),
        ]
    }()

    @Test(arguments: huge)
    func absurdSizesAreRefusedByName(field: String, spec: LayerSpec) throws {
        let error = try #require(throws: EngineError.self) {
            try Model(layers: layers(spec), inputShape: [64, 64, 3], classCount: 2)
        }
        #expect(error.description.contains(field), "\(error)")
    }

    @Test func theLimitsAreTheCallers() throws {
        let small = ModelLimits(maxLayerSize: 8, maxParameters: 1000, maxActivationValues: 4096)
        #expect(throws: EngineError.self) {
            try Model(layers: layers(conv(filters: 9)), inputShape: [8, 8, 1], classCount: 2, limits: small)
        }
        #expect(throws: EngineError.self) {
            try Model(layers: layers(conv(filters: 8)), inputShape: [32, 32, 1], classCount: 2, limits: small)
        }
        let model = try Model(layers: layers(conv(filters: 4)), inputShape: [8, 8, 1], classCount: 2, limits: small)
        #expect(model.parameterCount <= 1000)
        // The presets fit the defaults (dogs-seed, 78 M parameters, is built by SeedVectorTests).
        for preset in Preset.all where preset.name != "dogs-seed" { _ = try Model(preset: preset) }
    }
}
