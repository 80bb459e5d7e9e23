import Foundation

/// Which implementation computes a convolution.
public enum ConvPath: String, CaseIterable, Sendable, Codable {
    /// Plain loops: the oracle every fast path is tested against.
    case reference
    /// vol2col + OpenBLAS sgemm (col2vol for the adjoint).
    case im2col
    /// FFTW real-to-complex transforms on overlap-save tiles; stride 1 only.
    case fft
    /// Winograd F(2×2×2, 3×3×3): stride-1 3×3×3 kernels, padding 0…2 only.
    case winograd
    /// Register-blocked tiles reading a padded copy of the input directly (CConvKernels; AVX-512,
    /// AVX2+FMA or plain C, see `Conv3dImplicitGEMM.isa`).
    case implicitGEMM = "implicit-gemm"
}

/// How a convolution call may run. `path == nil` lets the cost model choose per shape;
/// the environment variable PETGAN_CONV=reference|im2col|fft|winograd|implicit-gemm forces a path for every call that
/// does not force one itself.
public struct ConvOptions: Sendable {
    public var path: ConvPath?
    /// Upper bound on the vol2col column buffer; larger volumes are processed in depth slabs.
    public var columnLimitBytes: Int
    /// fp32 or bf16 GEMM operands (Conv3dBF16.swift); nil: `ConvPrecision.current`.
    public var precision: ConvPrecision?
    public init(path: ConvPath? = nil, columnLimitBytes: Int = 256 << 20, precision: ConvPrecision? = nil) {
        self.path = path
        self.columnLimitBytes = columnLimitBytes
        self.precision = precision
    }
    public static let automatic = ConvOptions()

    /// PETGAN_CONV, read once.
    public static let environmentPath: ConvPath? = {
        guard let s = ProcessInfo.processInfo.environment["PETGAN_CONV"], !s.isEmpty else { return nil }
        guard let p = ConvPath(rawValue: s.lowercased()) else {
            FileHandle.standardError.write("petgan: ignoring PETGAN_CONV=\(s) (expected \(ConvPath.allCases.map(\.rawValue).joined(separator: ", ")))\n".data(using: .utf8)!)
            return nil
        }
        return p
    }()
}

/// Per-axis convolution hyper-parameters, PyTorch semantics (no dilation, no groups).
public struct ConvParams: Hashable, Sendable, CustomStringConvertible {
    public var kernel: [Int]
    public var stride: [Int]
    public var padding: [Int]
    /// Only for the transposed op: extra size added to one side of the output.
    public var outputPadding: [Int]

    public init(kernel: [Int], stride: [Int] = [1, 1, 1], padding: [Int] = [0, 0, 0], outputPadding: [Int] = [0, 0, 0]) {
        self.kernel = kernel; self.stride = stride; self.padding = padding; self.outputPadding = outputPadding
    }
    /// Cubic kernel k, stride s, padding p (and output padding op).
    public init(k: Int, s: Int = 1, p: Int = 0, op: Int = 0) {
        self.init(kernel: [k, k, k], stride: [s, s, s], padding: [p, p, p], outputPadding: [op, op, op])
    }
    /// 2D convenience: depth kernel 1, stride 1, padding 0.
    public static func twoD(k: Int, s: Int = 1, p: Int = 0, op: Int = 0) -> ConvParams {
        ConvParams(kernel: [1, k, k], stride: [1, s, s], padding: [0, p, p], outputPadding: [0, op, op])
    }
    public var description: String { "k\(kernel) s\(stride) p\(padding)" + (outputPadding == [0, 0, 0] ? "" : " op\(outputPadding)") }

    func validate(op: String) throws {
        guard kernel.count == 3, stride.count == 3, padding.count == 3, outputPadding.count == 3 else {
            throw TensorError.invalidArgument(op: op, detail: "kernel, stride, padding and output padding need 3 values (D, H, W)")
        }
        guard kernel.allSatisfy({ $0 > 0 }) else { throw TensorError.invalidArgument(op: op, detail: "kernel size \(kernel) must be positive") }
        guard stride.allSatisfy({ $0 > 0 }) else { throw TensorError.invalidArgument(op: op, detail: "stride \(stride) must be positive") }
        guard padding.allSatisfy({ $0 >= 0 }) else { throw TensorError.invalidArgument(op: op, detail: "padding \(padding) must not be negative") }
        guard outputPadding.allSatisfy({ $0 >= 0 }) else { throw TensorError.invalidArgument(op: op, detail: "output padding \(outputPadding) must not be negative") }
    }
}

/// The geometry every kernel works on, always in the orientation of a plain convolution:
/// `x` is the large volume (N, Ci, I), `y` the small one (N, Co, O), `w` (Co, Ci, K), and
///   y[n,co,o] = Σ_{ci,k} w[co,ci,k] · x[n,ci, o·s − p + k]   (zero outside x).
/// conv3d forward is `correlate`; its input gradient and conv_transpose3d's forward are the adjoint
/// `correlateAdjoint`; both weight gradients are `weightGradient`. Writing the transposed op as the
/// adjoint is what lets one set of kernels serve both ops and their gradients.
public struct ConvGeometry: Hashable, Sendable, CustomStringConvertible {
    public var n, ci, co: Int
    public var id, ih, iw: Int   // x spatial
    public var od, oh, ow: Int   // y spatial
    public var kd, kh, kw: Int
    public var sd, sh, sw: Int
    public var pd, ph, pw: Int

    public init(n: Int, ci: Int, co: Int, id: Int, ih: Int, iw: Int, od: Int, oh: Int, ow: Int,
                kd: Int, kh: Int, kw: Int, sd: Int, sh: Int, sw: Int, pd: Int, ph: Int, pw: Int) {
        self.n = n; self.ci = ci; self.co = co; self.id = id; self.ih = ih; self.iw = iw; self.od = od; self.oh = oh; self.ow = ow
        self.kd = kd; self.kh = kh; self.kw = kw; self.sd = sd; self.sh = sh; self.sw = sw; self.pd = pd; self.ph = ph; self.pw = pw
    }

    public var inSpatial: Int { id * ih * iw }
    public var outSpatial: Int { od * oh * ow }
    public var kernelVolume: Int { kd * kh * kw }
    /// Rows of the column matrix: Ci·kd·kh·kw.
    public var columnRows: Int { ci * kernelVolume }
    /// Multiply-adds of one correlate (or adjoint, or weight gradient) pass.
    public var macs: Int { n * co * ci * kernelVolume * outSpatial }
    public var xShape: [Int] { [n, ci, id, ih, iw] }
    public var yShape: [Int] { [n, co, od, oh, ow] }
    public var wShape: [Int] { [co, ci, kd, kh, kw] }
    public var isStrideOne: Bool { sd == 1 && sh == 1 && sw == 1 }
    public var description: String {
        "x\(shapeString(xShape)) w\(shapeString(wShape)) y\(shapeString(yShape)) s[\(sd),\(sh),\(sw)] p[\(pd),\(ph),\(pw)]"
    }

    /// Geometry of a convolution of `x` (N,Ci,D,H,W) by `w` (Co,Ci,kd,kh,kw).
    public static func conv(x: [Int], w: [Int], params: ConvParams, op: String) throws -> ConvGeometry {
        try params.validate(op: op)
        guard x.count == 5 else { throw TensorError.shapeMismatch(op: op, detail: "input \(shapeString(x)) is not 5-D (N, C, D, H, W)") }
        guard w.count == 5 else { throw TensorError.shapeMismatch(op: op, detail: "weight \(shapeString(w)) is not 5-D (Cout, Cin, kD, kH, kW)") }
        guard x.allSatisfy({ $0 > 0 }) else { throw TensorError.invalidArgument(op: op, detail: "input \(shapeString(x)) has a zero or negative size") }
        guard w.allSatisfy({ $0 > 0 }) else { throw TensorError.invalidArgument(op: op, detail: "weight \(shapeString(w)) has a zero or negative size") }
        guard x[1] == w[1] else {
            throw TensorError.shapeMismatch(op: op, detail: "input \(shapeString(x)) has \(x[1]) channels but weight \(shapeString(w)) expects \(w[1])")
        }
        guard Array(w[2...]) == params.kernel else {
            throw TensorError.shapeMismatch(op: op, detail: "weight \(shapeString(w)) does not match kernel size \(params.kernel)")
        }
        var o = [Int](repeating: 0, count: 3)
        for a in 0..<3 {
            let padded = x[2 + a] + 2 * params.padding[a]
            guard padded >= params.kernel[a] else {
                throw TensorError.shapeMismatch(op: op, detail: "kernel \(params.kernel) is larger than the padded input \(shapeString(x)) with padding \(params.padding)")
            }
            o[a] = (padded - params.kernel[a]) / params.stride[a] + 1
        }
        return ConvGeometry(n: x[0], ci: x[1], co: w[0], id: x[2], ih: x[3], iw: x[4], od: o[0], oh: o[1], ow: o[2],
                            kd: params.kernel[0], kh: params.kernel[1], kw: params.kernel[2],
                            sd: params.stride[0], sh: params.stride[1], sw: params.stride[2],
                            pd: params.padding[0], ph: params.padding[1], pw: params.padding[2])
    }

    /// Geometry of a transposed convolution of `x` (N,Cin,D,H,W) by `w` (Cin,Cout,kd,kh,kw), PyTorch's
    /// layout: output size (I − 1)·s − 2p + k + output_padding. In the returned geometry the
    /// transposed op's output is `x` (large) and its input is `y` (small).
    public static func transposed(x: [Int], w: [Int], params: ConvParams, op: String) throws -> ConvGeometry {
        try params.validate(op: op)
        guard x.count == 5 else { throw TensorError.shapeMismatch(op: op, detail: "input \(shapeString(x)) is not 5-D (N, C, D, H, W)") }
        guard w.count == 5 else { throw TensorError.shapeMismatch(op: op, detail: "weight \(shapeString(w)) is not 5-D (Cin, Cout, kD, kH, kW)") }
        guard x.allSatisfy({ $0 > 0 }) else { throw TensorError.invalidArgument(op: op, detail: "input \(shapeString(x)) has a zero or negative size") }
        guard w.allSatisfy({ $0 > 0 }) else { throw TensorError.invalidArgument(op: op, detail: "weight \(shapeString(w)) has a zero or negative size") }
        guard x[1] == w[0] else {
            throw TensorError.shapeMismatch(op: op, detail: "input \(shapeString(x)) has \(x[1]) channels but weight \(shapeString(w)) expects \(w[0])")
        }
        guard Array(w[2...]) == params.kernel else {
            throw TensorError.shapeMismatch(op: op, detail: "weight \(shapeString(w)) does not match kernel size \(params.kernel)")
        }
        var big = [Int](repeating: 0, count: 3)
        for a in 0..<3 {
            guard params.outputPadding[a] < max(params.stride[a], 1) else {
                throw TensorError.invalidArgument(op: op, detail: "output padding \(params.outputPadding) must be smaller than stride \(params.stride)")
            }
            big[a] = (x[2 + a] - 1) * params.stride[a] - 2 * params.padding[a] + params.kernel[a] + params.outputPadding[a]
            guard big[a] > 0 else {
                throw TensorError.shapeMismatch(op: op, detail: "input \(shapeString(x)) with \(params) gives an empty output")
            }
        }
        let g = ConvGeometry(n: x[0], ci: w[1], co: w[0], id: big[0], ih: big[1], iw: big[2], od: x[2], oh: x[3], ow: x[4],
                             kd: params.kernel[0], kh: params.kernel[1], kw: params.kernel[2],
                             sd: params.stride[0], sh: params.stride[1], sw: params.stride[2],
                             pd: params.padding[0], ph: params.padding[1], pw: params.padding[2])
        // The conv of the big volume must come back to exactly the input size.
        for a in 0..<3 {
            let padded = big[a] + 2 * params.padding[a]
            guard padded >= params.kernel[a], (padded - params.kernel[a]) / params.stride[a] + 1 == x[2 + a] else {
                throw TensorError.shapeMismatch(op: op, detail: "input \(shapeString(x)) and \(params) are inconsistent")
            }
        }
        return g
    }
}

/// The three kernels every path implements (see `ConvGeometry`).
public protocol ConvKernel {
    /// y = correlate(x, w): y (N,Co,O) is overwritten.
    static func correlate(_ g: ConvGeometry, x: UnsafePointer<Float>, w: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, options: ConvOptions)
    /// x = correlateᵀ(y, w): x (N,Ci,I) is overwritten.
    static func correlateAdjoint(_ g: ConvGeometry, y: UnsafePointer<Float>, w: UnsafePointer<Float>, x: UnsafeMutablePointer<Float>, options: ConvOptions)
    /// w = Σ_n y ⋆ x: w (Co,Ci,K) is overwritten.
    static func weightGradient(_ g: ConvGeometry, x: UnsafePointer<Float>, y: UnsafePointer<Float>, w: UnsafeMutablePointer<Float>, options: ConvOptions)
}
