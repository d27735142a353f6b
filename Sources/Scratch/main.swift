import Foundation
import KennelEngine
let model = try! Model(preset: .dogsSeed)
for batch in [1, 64] {
    let x = Tensor(shape: [batch, 250, 151, 1]) { Float($0 % 7) / 7 }
    var totals: [String: Double] = [:]
    for round in 0..<12 {
        var a = x
        for layer in model.layers {
            let t = Date()
            a = layer.forward(consume a, training: false)
            if round >= 2 { totals[layer.name, default: 0] += Date().timeIntervalSince(t) * 1000 / 10 }
        }
    }
    print("batch", batch)
    for (k, v) in totals.sorted(by: { $0.value > $1.value }) { print("  ", k, String(format: "%.2f ms", v)) }
}
