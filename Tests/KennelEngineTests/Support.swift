import Foundation
import KennelTestSupport
@testable import KennelEngine

extension ReferenceCase.Array {
    var tensor: Tensor { Tensor(shape: shape, data: data) }
}
