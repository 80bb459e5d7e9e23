// The reference paper's protocol (Islam & Zhang 2020): PSNR and SSIM of each synthetic sample against
// its nearest real sample. Volumes: 3D over the whole volume (SSIM streamed with a halo) and 2D over
// the axial slices whose real slice reaches 10% of the volume maximum; 2D samples: over the sample
// (SSIM per channel, then the channel mean).

import Foundation
import PETTensor
import PETVolumes

public final class PaperProtocolMetric: EvaluationMetric {
    public struct PairValues: Codable {
        public var synthetic: String, real: String
        public var psnr2D: Double, ssim2D: Double
        /// Volumes only.
        public var psnr3D: Double?, ssim3D: Double?, slices: Int?
        /// 2D samples: MNI z (mm) of the real sample's centre slice, when known.
        public var realZMM: Double?
        enum CodingKeys: String, CodingKey {
            case synthetic, real, slices, psnr2D = "psnr_2d", ssim2D = "ssim_2d", psnr3D = "psnr_3d", ssim3D = "ssim_3d", realZMM = "real_z_mm"
        }
    }
    public struct ClassValues: Codable {
        public var psnr2D: Double, ssim2D: Double, psnr3D: Double?, ssim3D: Double?, pairs: Int
        enum CodingKeys: String, CodingKey { case pairs, psnr2D = "psnr_2d", ssim2D = "ssim_2d", psnr3D = "psnr_3d", ssim3D = "ssim_3d" }
    }
    public struct Result: Codable {
        /// "2D" for 2D samples, absent for volumes.
        public var layout: String?
        public var protocolText: String
        public var dataRange: Double
        public var psnr2D: Summary, ssim2D: Summary, psnr3D: Summary?, ssim3D: Summary?
        public var pairs: Int
        public var perClass: [String: ClassValues]
        public var pairList: [PairValues]
        enum CodingKeys: String, CodingKey {
            case layout, pairs, protocolText = "protocol", dataRange = "data_range", psnr2D = "psnr_2d", ssim2D = "ssim_2d",
                 psnr3D = "psnr_3d", ssim3D = "ssim_3d", perClass = "per_class", pairList = "pair_list"
        }
    }
    public static let placement = MetricPlacement.at(["paper_protocol"])
    public static func make(for run: EvaluationRun) throws -> PaperProtocolMetric? { PaperProtocolMetric() }

    var pairs: [PairValues] = []
    // The pair being measured.
    var psnr = PSNRAccumulator()
    var ssim3: StreamingSSIM? = nil
    var p2: [Double] = [], s2: [Double] = []
    var current: EvaluationPair? = nil
    var realMax: Float = 0
    var dataRange = 0.0, itemShape: [Int] = [], volumes = true

    public func beginPair(_ pair: EvaluationPair, run: EvaluationRun) throws {
        current = pair
        psnr = PSNRAccumulator(); p2 = []; s2 = []
        dataRange = run.dataRange; itemShape = run.itemShape; volumes = run.isVolumes
        realMax = run.real.maxima[pair.real]
        ssim3 = volumes ? try StreamingSSIM(shape: itemShape, dataRange: dataRange) : nil
    }

    public func addPairSlabs(real rv: [Float], synthetic sv: [Float], firstDepth: Int) throws {
        psnr.add(real: rv, synthetic: sv)
        guard let ssim3 else {
            s2.append(try Evaluation.ssim2D(rv, sv, shape: itemShape, dataRange: dataRange))
            return
        }
        ssim3.add(rv, sv)
        // 2D protocol (the paper's): axial slices whose real slice reaches 10% of the volume maximum.
        let plane = itemShape[1] * itemShape[2]
        for k in 0..<(rv.count / plane) {
            let rs = Array(rv[(k * plane)..<((k + 1) * plane)])
            guard (rs.max() ?? 0) >= 0.1 * realMax else { continue }
            let ss = Array(sv[(k * plane)..<((k + 1) * plane)])
            let pv = ImageMetrics.psnr(real: rs, synthetic: ss)
            if pv.isFinite { p2.append(pv) }
            s2.append(try ImageMetrics.ssim(rs, ss, shape: [itemShape[1], itemShape[2]], dataRange: dataRange))
        }
    }

    public func endPair() throws {
        guard let pair = current else { return }
        if let ssim3 {
            pairs.append(PairValues(synthetic: "\(pair.synthetic)", real: "\(pair.real)", psnr2D: Statistics.mean(p2), ssim2D: Statistics.mean(s2),
                                    psnr3D: psnr.value, ssim3D: try ssim3.finish().ssim, slices: s2.count, realZMM: nil))
        } else {
            pairs.append(PairValues(synthetic: "\(pair.synthetic)", real: "\(pair.real)", psnr2D: psnr.value, ssim2D: s2[0], psnr3D: nil, ssim3D: nil, slices: nil, realZMM: nil))
        }
        current = nil
    }

    public func finish(_ run: EvaluationRun) throws -> Result? {
        let rs = run.realSet, ss = run.syntheticSet
        // Names (and slice positions) for the pair list.
        var list = pairs
        for (k, p) in run.pairs.enumerated() {
            list[k].synthetic = ss.names[p.synthetic]; list[k].real = rs.names[p.real]
            if case let .samples2D(real, _) = run.inputs { list[k].realZMM = real.positionsMM[p.real] }
        }
        func summary(_ v: [Double]) -> Summary { Summary(v.filter { $0.isFinite }) }
        var perClass: [String: ClassValues] = [:]
        for c in 0..<run.classCount {
            let ps = zip(run.pairs, list).filter { ss.labels[$0.0.synthetic] == c }.map(\.1)
            guard !ps.isEmpty else { continue }
            perClass[run.classNames.isEmpty ? "all" : run.classNames[c]] = ClassValues(
                psnr2D: Statistics.mean(ps.map(\.psnr2D).filter(\.isFinite)), ssim2D: Statistics.mean(ps.map(\.ssim2D)),
                psnr3D: run.isVolumes ? Statistics.mean(ps.compactMap(\.psnr3D).filter(\.isFinite)) : nil,
                ssim3D: run.isVolumes ? Statistics.mean(ps.compactMap(\.ssim3D)) : nil, pairs: ps.count)
        }
        let range = String(format: "%.4g", run.dataRange)
        switch run.inputs {
        case let .volumes(real, _):
            return Result(layout: nil, protocolText: "Each synthetic sample is paired with its nearest real sample of the same class (smallest MSE; candidates ranked on \(run.blockFactor)x block-averaged volumes, best of the top 3 at full resolution). PSNR = 10·log10(max(real)^2 / MSE). SSIM: Gaussian window 11 (sigma 1.5), K1 0.01, K2 0.03, L = dynamic range of the real set (\(range) \(real.units)), mean over voxels whose window lies inside the image (= skimage structural_similarity(gaussian_weights=True, use_sample_covariance=False)). 2D: axial slices whose real slice reaches 10% of the volume maximum, averaged per pair; 3D: whole volume. Averages are over pairs. Reference (Islam & Zhang 2020, 2D slices, 8-bit): PSNR 32.83, SSIM 77.48 (%).",
                          dataRange: run.dataRange, psnr2D: summary(list.map(\.psnr2D)), ssim2D: summary(list.map(\.ssim2D)),
                          psnr3D: summary(list.compactMap(\.psnr3D)), ssim3D: summary(list.compactMap(\.ssim3D)),
                          pairs: list.count, perClass: perClass, pairList: list)
        case let .samples2D(real, _):
            let s = run.itemShape
            return Result(layout: "2D",
                          protocolText: "2D samples (\(s[0]) adjacent axial slices of \(s[1])x\(s[2]), the 2D model's unit). Each synthetic sample is paired with its nearest real sample of the same class among \(real.count) real samples (\(real.kind)): smallest MSE, candidates ranked on \(run.blockFactor)x block-averaged samples, best of the top 3 at full resolution. PSNR = 10·log10(max(real)^2 / MSE) over the whole sample. SSIM: per channel, Gaussian window 11 (sigma 1.5), K1 0.01, K2 0.03, L = dynamic range of the real set (\(range) \(real.units)), mean over pixels whose window lies inside the image, then the mean over channels (= skimage structural_similarity(channel_axis=0, gaussian_weights=True, use_sample_covariance=False)). Averages are over pairs. Reference (Islam & Zhang 2020, 2D slices, 8-bit): PSNR 32.83, SSIM 77.48 (%).",
                          dataRange: run.dataRange, psnr2D: summary(list.map(\.psnr2D)), ssim2D: summary(list.map(\.ssim2D)),
                          psnr3D: nil, ssim3D: nil, pairs: list.count, perClass: perClass, pairList: list)
        }
    }
}
