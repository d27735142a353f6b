import CHDF5
import KennelEngine

/// A read-only HDF5 file (libhdf5): float datasets and string attributes, all Keras files need.
final class HDF5File {
    private let file: hid_t

    /// Opens the file at `path`; throws `KerasImportError.unreadable` when it is not HDF5.
    init(path: String) throws {
        kennel_h5_quiet()
        file = H5Fopen(path, kennel_h5_read_only(), kennel_h5_default())
        guard file >= 0 else { throw KerasImportError.unreadable("not an HDF5 file") }
    }

    deinit { H5Fclose(file) }

    /// Whether `path` names a group or dataset.
    func exists(_ path: String) -> Bool { kennel_h5_exists(file, path) == 1 }

    /// The dataset at `path` as float32 values with its shape (HDF5 converts other float types on reading).
    func tensor(_ path: String) throws -> Tensor {
        let dataset = H5Dopen2(file, path, kennel_h5_default())
        guard dataset >= 0 else { throw KerasImportError.unreadable("no dataset \(path)") }
        defer { H5Dclose(dataset) }
        let space = H5Dget_space(dataset)
        defer { H5Sclose(space) }
        let rank = Int(H5Sget_simple_extent_ndims(space))
        guard rank >= 0, rank <= 8 else { throw KerasImportError.unreadable("dataset \(path) has rank \(rank)") }
        var dimensions = [hsize_t](repeating: 0, count: max(rank, 1))
        H5Sget_simple_extent_dims(space, &dimensions, nil)
        let shape = dimensions.prefix(rank).map { Int($0) }
        let count = shape.reduce(1, *)
        guard count <= 1 << 30 else { throw KerasImportError.unreadable("dataset \(path) holds \(count) values") }
        var values = [Float](repeating: 0, count: count)
        let status = values.withUnsafeMutableBytes { buffer in
            H5Dread(dataset, kennel_h5_native_float(), kennel_h5_all(), kennel_h5_all(), kennel_h5_default(),
                    buffer.baseAddress)
        }
        guard status >= 0 else { throw KerasImportError.unreadable("dataset \(path) is not a float array") }
        return Tensor(shape: shape, data: values)
    }

    /// The string attribute `name` of the object at `path` (one string or several), or nil when it has none.
    func strings(_ name: String, of path: String = ".") -> [String]? {
        var values: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
        var count = 0
        guard kennel_h5_read_strings(file, path, name, &values, &count) == 0 else { return nil }
        defer { kennel_h5_free_strings(values, count) }
        return (0..<count).map { index in values?[index].map { String(cString: $0) } ?? "" }
    }
}
