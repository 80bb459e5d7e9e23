// FFT path: work in progress in this commit (falls back to im2col until implemented).
public enum Conv3dFFT: ConvKernel {
    public static func applies(_ g: ConvGeometry) -> Bool { false }
    static func estimatedSeconds(_ g: ConvGeometry, role: ConvDispatch.Role) -> Double { .infinity }
    public static func correlate(_ g: ConvGeometry, x: UnsafePointer<Float>, w: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, options: ConvOptions) {
        Conv3dIm2col.correlate(g, x: x, w: w, y: y, options: options)
    }
    public static func correlateAdjoint(_ g: ConvGeometry, y: UnsafePointer<Float>, w: UnsafePointer<Float>, x: UnsafeMutablePointer<Float>, options: ConvOptions) {
        Conv3dIm2col.correlateAdjoint(g, y: y, w: w, x: x, options: options)
    }
    public static func weightGradient(_ g: ConvGeometry, x: UnsafePointer<Float>, y: UnsafePointer<Float>, w: UnsafeMutablePointer<Float>, options: ConvOptions) {
        Conv3dIm2col.weightGradient(g, x: x, y: y, w: w, options: options)
    }
}
