import KennelEngine
import KennelImage

/// The seed's "debug the filters" view: a convolution's kernels side by side, each stretched to 0–255 on its
/// own, enlarged with square pixels and separated by a gray rule.
public enum FilterGrid {
    /// A grid image of `kernel` (kh×kw×in×out): one tile per output filter, in RGB when the layer reads three
    /// channels and gray otherwise (the first input channel of each filter).
    public static func image(kernel: Tensor, scale: Int = 8, gap: Int = 2) -> Image {
        let (kh, kw, inputs, filters) = (kernel.shape[0], kernel.shape[1], kernel.shape[2], kernel.shape[3])
        let channels = inputs == 3 ? 3 : 1
        let columns = Int(Double(filters).squareRoot().rounded(.up))
        let rows = (filters + columns - 1) / columns
        let tileHeight = kh * scale, tileWidth = kw * scale
        let width = columns * tileWidth + (columns + 1) * gap, height = rows * tileHeight + (rows + 1) * gap
        var pixels = [Float](repeating: 128, count: width * height * channels)
        var tile = [Float](repeating: 0, count: kh * kw * channels)
        for filter in 0..<filters {
            // Gather one filter's weights (HWC) and stretch them to 0…255.
            for y in 0..<kh {
                for x in 0..<kw {
                    for c in 0..<channels {
                        tile[(y * kw + x) * channels + c] = kernel.data[((y * kw + x) * inputs + c) * filters + filter]
                    }
                }
            }
            let low = tile.min()!, high = tile.max()!
            let stretch: Float = high > low ? 255 / (high - low) : 0
            let top = gap + (filter / columns) * (tileHeight + gap), left = gap + (filter % columns) * (tileWidth + gap)
            for y in 0..<tileHeight {
                let row = (top + y) * width
                for x in 0..<tileWidth {
                    let source = ((y / scale) * kw + x / scale) * channels
                    for c in 0..<channels {
                        pixels[(row + left + x) * channels + c] = (tile[source + c] - low) * stretch
                    }
                }
            }
        }
        return Image(width: width, height: height, channels: channels, pixels: pixels)
    }
}
