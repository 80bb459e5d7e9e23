// The oracle: convolution as the textbook sum, one output (or input) element at a time, in Double.
// Slow on purpose; every fast path is tested against it.
//   x: (N, Ci, ID, IH, IW)   w: (Co, Ci, KD, KH, KW)   y: (N, Co, OD, OH, OW)
//   y[n,co,o] = Σ_{ci,k} w[co,ci,k] · x[n,ci, o·s − p + k]

public enum Conv3dReference: ConvKernel {
    public static func correlate(_ g: ConvGeometry, x: UnsafePointer<Float>, w: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, options: ConvOptions) {
        Parallel.forEach(g.n * g.co) { nco in
            let n = nco / g.co, co = nco % g.co
            for od in 0..<g.od { for oh in 0..<g.oh { for ow in 0..<g.ow {
                var acc = 0.0
                for ci in 0..<g.ci { for a in 0..<g.kd { for b in 0..<g.kh { for e in 0..<g.kw {
                    let id = od * g.sd - g.pd + a, ih = oh * g.sh - g.ph + b, iw = ow * g.sw - g.pw + e
                    guard id >= 0, id < g.id, ih >= 0, ih < g.ih, iw >= 0, iw < g.iw else { continue }
                    let xv = x[(((n * g.ci + ci) * g.id + id) * g.ih + ih) * g.iw + iw]
                    let wv = w[(((co * g.ci + ci) * g.kd + a) * g.kh + b) * g.kw + e]
                    acc += Double(xv) * Double(wv)
                }}}}
                y[(((n * g.co + co) * g.od + od) * g.oh + oh) * g.ow + ow] = Float(acc)
            }}}
        }
    }

    /// x[n,ci,i] = Σ_{co,k : o·s − p + k = i} w[co,ci,k] · y[n,co,o]  (gather form: no races).
    public static func correlateAdjoint(_ g: ConvGeometry, y: UnsafePointer<Float>, w: UnsafePointer<Float>, x: UnsafeMutablePointer<Float>, options: ConvOptions) {
        Parallel.forEach(g.n * g.ci) { nci in
            let n = nci / g.ci, ci = nci % g.ci
            for id in 0..<g.id { for ih in 0..<g.ih { for iw in 0..<g.iw {
                var acc = 0.0
                for co in 0..<g.co { for a in 0..<g.kd { for b in 0..<g.kh { for e in 0..<g.kw {
                    let td = id + g.pd - a, th = ih + g.ph - b, tw = iw + g.pw - e
                    guard td >= 0, th >= 0, tw >= 0, td % g.sd == 0, th % g.sh == 0, tw % g.sw == 0 else { continue }
                    let od = td / g.sd, oh = th / g.sh, ow = tw / g.sw
                    guard od < g.od, oh < g.oh, ow < g.ow else { continue }
                    let yv = y[(((n * g.co + co) * g.od + od) * g.oh + oh) * g.ow + ow]
                    let wv = w[(((co * g.ci + ci) * g.kd + a) * g.kh + b) * g.kw + e]
                    acc += Double(yv) * Double(wv)
                }}}}
                x[(((n * g.ci + ci) * g.id + id) * g.ih + ih) * g.iw + iw] = Float(acc)
            }}}
        }
    }

    /// w[co,ci,k] = Σ_{n,o} y[n,co,o] · x[n,ci, o·s − p + k]
    public static func weightGradient(_ g: ConvGeometry, x: UnsafePointer<Float>, y: UnsafePointer<Float>, w: UnsafeMutablePointer<Float>, options: ConvOptions) {
        Parallel.forEach(g.co * g.ci) { coci in
            let co = coci / g.ci, ci = coci % g.ci
            for a in 0..<g.kd { for b in 0..<g.kh { for e in 0..<g.kw {
                var acc = 0.0
                for n in 0..<g.n { for od in 0..<g.od { for oh in 0..<g.oh { for ow in 0..<g.ow {
                    let id = od * g.sd - g.pd + a, ih = oh * g.sh - g.ph + b, iw = ow * g.sw - g.pw + e
                    guard id >= 0, id < g.id, ih >= 0, ih < g.ih, iw >= 0, iw < g.iw else { continue }
                    acc += Double(y[(((n * g.co + co) * g.od + od) * g.oh + oh) * g.ow + ow])
                         * Double(x[(((n * g.ci + ci) * g.id + id) * g.ih + ih) * g.iw + iw])
                }}}}
                w[(((co * g.ci + ci) * g.kd + a) * g.kh + b) * g.kw + e] = Float(acc)
            }}}
        }
    }
}
