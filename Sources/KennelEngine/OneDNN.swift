import CDNNL

/// The engine's door to oneDNN (Debian's libdnnl, 2.6): one CPU engine for the process, primitives built once
/// per layer and batch size, and reorders between the engine's plain layouts and the blocked ones oneDNN's JIT
/// kernels pick. Shapes reach here already checked (`ModelLimits`, the layers' own checks), so a failing call
/// is a defect in the engine and stops the process with oneDNN's status.
enum OneDNN {
    /// The process's CPU engine.
    nonisolated(unsafe) static let engine: dnnl_engine_t = {
        var engine: dnnl_engine_t?
        check(dnnl_engine_create(&engine, dnnl_cpu, 0), "creating the CPU engine")
        return engine!
    }()

    static func check(_ status: dnnl_status_t, _ what: @autoclosure () -> String) {
        precondition(status == dnnl_success, "oneDNN failed \(what()): status \(status.rawValue)")
    }

    /// A descriptor of memory with logical `dims` (oneDNN's order: N, C, H, W or O, I, H, W) laid out as `tag`
    /// (`dnnl_format_tag_any` lets a primitive choose), float32 unless `type` says otherwise.
    static func descriptor(_ dims: [Int], _ tag: dnnl_format_tag_t, _ type: dnnl_data_type_t = dnnl_f32)
        -> dnnl_memory_desc_t {
        var descriptor = dnnl_memory_desc_t()
        let extents = dims.map(Int64.init)
        check(dnnl_memory_desc_init_by_tag(&descriptor, Int32(dims.count), extents, type, tag),
              "describing memory \(dims)")
        return descriptor
    }

    /// Per-output scales a primitive multiplies its result by: one for the whole output (`mask` 0) or one per
    /// index of dimension 0 (`mask` 1: per output channel).
    struct Scales {
        let mask: Int32
        let values: [Float]
    }

    /// Runs `body` with primitive attributes that scale the output (`scales`) and then apply ReLU as a post-op
    /// (`reLU`); nil when neither is asked for. A primitive descriptor copies them, so they are destroyed
    /// afterwards.
    static func withAttributes<Value>(reLU: Bool = false, scales: Scales? = nil,
                                      _ body: (dnnl_primitive_attr_t?) -> Value) -> Value {
        guard reLU || scales != nil else { return body(nil) }
        var attributes: dnnl_primitive_attr_t?
        check(dnnl_primitive_attr_create(&attributes), "creating attributes")
        defer { dnnl_primitive_attr_destroy(attributes) }
        if let scales {
            check(dnnl_primitive_attr_set_output_scales(attributes, Int64(scales.values.count), scales.mask,
                                                        scales.values), "setting output scales")
        }
        if reLU {
            var postOps: dnnl_post_ops_t?
            check(dnnl_post_ops_create(&postOps), "creating post-ops")
            defer { dnnl_post_ops_destroy(postOps) }
            check(dnnl_post_ops_append_eltwise(postOps, 1, dnnl_eltwise_relu, 0, 0), "appending ReLU")
            check(dnnl_primitive_attr_set_post_ops(attributes, postOps), "setting post-ops")
        }
        return body(attributes)
    }

    static func equal(_ a: dnnl_memory_desc_t, _ b: dnnl_memory_desc_t) -> Bool {
        withUnsafePointer(to: a) { a in withUnsafePointer(to: b) { b in dnnl_memory_desc_equal(a, b) != 0 } }
    }

    static func bytes(_ descriptor: dnnl_memory_desc_t) -> Int {
        withUnsafePointer(to: descriptor) { Int(dnnl_memory_desc_get_size($0)) }
    }
}

extension WindowGeometry {
    /// Strides and TensorFlow's padding as oneDNN wants them: zeros before, and after whatever makes the output
    /// size come out (never negative: a `valid` window's leftover input is simply not reached).
    var oneDNNWindow: (strides: [Int64], before: [Int64], after: [Int64]) {
        let bottom = max(0, (outputHeight - 1) * strideY + kernelHeight - inputHeight - padTop)
        let right = max(0, (outputWidth - 1) * strideX + kernelWidth - inputWidth - padLeft)
        return ([Int64(strideY), Int64(strideX)], [Int64(padTop), Int64(padLeft)], [Int64(bottom), Int64(right)])
    }
}

/// One oneDNN primitive with its descriptor, a stream and a memory object per argument, whose buffers are set
/// at each execution. Not for concurrent use: a layer's primitives run on the thread running the layer.
final class DNNLPrimitive {
    let descriptor: dnnl_primitive_desc_t
    private let primitive: dnnl_primitive_t
    private let stream: dnnl_stream_t
    private var memories: [Int32: dnnl_memory_t] = [:]

    /// Creates the primitive for the operation `operation` points to (a convolution descriptor, …).
    convenience init(_ operation: UnsafeRawPointer, hint: DNNLPrimitive? = nil,
                     attributes: dnnl_primitive_attr_t? = nil) {
        var descriptor: dnnl_primitive_desc_t?
        OneDNN.check(dnnl_primitive_desc_create(&descriptor, operation, attributes, OneDNN.engine, hint?.descriptor),
                     "creating a primitive descriptor")
        self.init(created: descriptor!)
    }

    /// The primitive for `operation`, or nil when this CPU has no kernel for it (bf16 or int8 on an older CPU).
    convenience init?(ifImplemented operation: UnsafeRawPointer, attributes: dnnl_primitive_attr_t?) {
        var descriptor: dnnl_primitive_desc_t?
        let status = dnnl_primitive_desc_create(&descriptor, operation, attributes, OneDNN.engine, nil)
        guard status != dnnl_unimplemented else { return nil }
        OneDNN.check(status, "creating a primitive descriptor")
        self.init(created: descriptor!)
    }

    /// A reorder from `source` to `target` layout and data type; `attributes` may scale the values on the way.
    convenience init(reorderFrom source: dnnl_memory_desc_t, to target: dnnl_memory_desc_t,
                     attributes: dnnl_primitive_attr_t? = nil) {
        var descriptor: dnnl_primitive_desc_t?
        withUnsafePointer(to: source) { source in
            withUnsafePointer(to: target) { target in
                OneDNN.check(dnnl_reorder_primitive_desc_create(&descriptor, source, OneDNN.engine, target,
                                                                OneDNN.engine, attributes), "creating a reorder")
            }
        }
        self.init(created: descriptor!)
    }

    /// Takes ownership of `descriptor` and creates its primitive and a stream.
    private init(created descriptor: dnnl_primitive_desc_t) {
        var primitive: dnnl_primitive_t?
        OneDNN.check(dnnl_primitive_create(&primitive, descriptor), "creating a primitive")
        var stream: dnnl_stream_t?
        OneDNN.check(dnnl_stream_create(&stream, OneDNN.engine, dnnl_stream_default_flags.rawValue), "creating a stream")
        (self.descriptor, self.primitive, self.stream) = (descriptor, primitive!, stream!)
    }

    /// The layout the primitive chose for `query` (`dnnl_query_weights_md`, …).
    func memoryDescriptor(_ query: dnnl_query_t, index: Int32 = 0) -> dnnl_memory_desc_t {
        dnnl_primitive_desc_query_md(descriptor, query, index).pointee
    }

    /// Where this primitive records what its backward pass needs (max pooling's argmax, LRN's norms), made on
    /// first use; nil when it records nothing. One per primitive, as a layer runs one pass at a time.
    lazy var workspace: DNNLBuffer? = {
        let descriptor = memoryDescriptor(dnnl_query_workspace_md)
        return OneDNN.bytes(descriptor) > 0 ? DNNLBuffer(descriptor) : nil
    }()

    /// Runs the primitive on `arguments` (a `DNNL_ARG_*` and the buffer it reads or writes), and `workspace` when
    /// given, and waits for it.
    func execute(_ arguments: [(Int32, UnsafeMutableRawPointer)], workspace: DNNLBuffer? = nil) {
        var exec = [dnnl_exec_arg_t]()
        exec.reserveCapacity(arguments.count + 1)
        for (argument, buffer) in arguments + (workspace.map { [(DNNL_ARG_WORKSPACE, $0.pointer)] } ?? []) {
            let memory = memory(for: argument)
            OneDNN.check(dnnl_memory_set_data_handle(memory, buffer), "binding argument \(argument)")
            exec.append(dnnl_exec_arg_t(arg: argument, memory: memory))
        }
        OneDNN.check(dnnl_primitive_execute(primitive, stream, Int32(exec.count), exec), "executing")
        OneDNN.check(dnnl_stream_wait(stream), "waiting for the stream")
    }

    private func memory(for argument: Int32) -> dnnl_memory_t {
        if let memory = memories[argument] { return memory }
        var memory: dnnl_memory_t?
        var descriptor = dnnl_primitive_desc_query_md(self.descriptor, dnnl_query_exec_arg_md, argument).pointee
        OneDNN.check(dnnl_memory_create(&memory, &descriptor, OneDNN.engine, kennel_dnnl_memory_none()),
                     "creating memory for argument \(argument)")
        memories[argument] = memory!
        return memory!
    }

    deinit {
        for memory in memories.values { dnnl_memory_destroy(memory) }
        dnnl_primitive_destroy(primitive)
        dnnl_primitive_desc_destroy(descriptor)
        dnnl_stream_destroy(stream)
    }
}

/// Per batch size, something built for that size (primitives). Training meets two or three batch sizes; serving
/// meets every size from 1 to its largest batch (32), so the limit holds them all: with room for 8, a served model
/// under load emptied the set again and again and recompiled its primitives (2,310 times in 6 s of wrk at 16
/// connections). Past `limit` (batch sizes no caller should produce) the set is emptied rather than left to grow.
struct PrimitiveCache<Value> {
    private var values: [Int: Value] = [:]
    let limit = 40

    mutating func value(for batch: Int, make: () -> Value) -> Value {
        if let cached = values[batch] { return cached }
        if values.count >= limit { values.removeAll() }
        let made = make()
        values[batch] = made
        return made
    }
}

/// A buffer in a layout oneDNN describes, kept between calls (weights, reordered or frozen; converted inputs).
final class DNNLBuffer {
    let descriptor: dnnl_memory_desc_t
    let pointer: UnsafeMutableRawPointer

    init(_ descriptor: dnnl_memory_desc_t) {
        self.descriptor = descriptor
        pointer = UnsafeMutableRawPointer.allocate(byteCount: max(1, OneDNN.bytes(descriptor)), alignment: 64)
    }

    /// A buffer holding `values`, laid out as `descriptor` (a plain layout of exactly that many floats).
    convenience init(copying values: [Float], _ descriptor: dnnl_memory_desc_t) {
        precondition(OneDNN.bytes(descriptor) == values.count * MemoryLayout<Float>.stride,
                     "\(values.count) values for a \(OneDNN.bytes(descriptor))-byte layout")
        self.init(descriptor)
        values.withUnsafeBytes { pointer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
    }

    deinit { pointer.deallocate() }
}
