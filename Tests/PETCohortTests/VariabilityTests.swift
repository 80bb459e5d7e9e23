import Foundation
import XCTest
import PETTestSupport
@testable import PETCohort
import PETTensor
import PETVolumes

/// Sources of variability (4 mm grid): each is present with the default model and disappears when its
/// effect is switched off; covariates are recorded and round-trip through the store and the sidecars.
final class VariabilityTests: XCTestCase {
    static func parameters(_ effects: String) throws -> PhantomParameters {
        var p = PhantomParameters()
        try p.effects.apply(effects)
        try p.validate()
        return p
    }

    static func slope(_ x: [Double], _ y: [Double]) -> Double {
        let mx = x.reduce(0, +) / Double(x.count), my = y.reduce(0, +) / Double(y.count)
        var sxy = 0.0, sxx = 0.0
        for (a, b) in zip(x, y) { sxy += (a - mx) * (b - my); sxx += (a - mx) * (a - mx) }
        return sxy / sxx
    }

    func testWithEveryEffectOffAllSubjectsOfAClassAreIdentical() throws {
        let gen = try Fixtures.generator(voxel: 4, parameters: Self.parameters("all=0"))
        let a = try gen.generate(index: 0, className: "NC", seed: 101)
        let b = try gen.generate(index: 1, className: "NC", seed: 202)
        XCTAssertNotEqual(a.subject.age, b.subject.age)
        XCTAssertEqual(a.values, b.values)
        // Disease off too: AD equals NC for the same seed, bitwise.
        XCTAssertEqual(try gen.generate(index: 0, className: "AD", seed: 101).values, a.values)
        // The full model: two subjects differ.
        let full = try Fixtures.generator(voxel: 4)
        XCTAssertNotEqual(try full.generate(index: 0, className: "NC", seed: 101).values, try full.generate(index: 1, className: "NC", seed: 202).values)
    }

    func testAgeSlopeIsNegativeFrontalStrongestAndVanishesWithAgeOff() throws {
        // The same 30 subjects with and without age effects: the paired difference is the age effect.
        let n = 30
        var ages: [Double] = []
        var f: [String: [Double]] = [:], o: [String: [Double]] = [:]
        for effects in ["age=1", "age=0"] {
            let gen = try Fixtures.generator(voxel: 4, parameters: Self.parameters(effects))
            let atlas = GridAtlas(anatomy: gen.anatomy, grid: gen.grid)
            let frontal = atlas.voxels(codes: PhantomParameters.frontalCodes, gmMin: 0)
            let visual = atlas.voxels(codes: [5001, 5002, 5011, 5012, 5021, 5022], gmMin: 0)
            ages = []
            for s in 0..<n {
                let v = try gen.generate(index: s, className: "NC", seed: Draw.derivedSeed(55, UInt64(s)))
                ages.append(v.subject.age!)
                f[effects, default: []].append(GridAtlas.mean(v.values, frontal)); o[effects, default: []].append(GridAtlas.mean(v.values, visual))
            }
        }
        let mf = f["age=1"]!.reduce(0, +) / Double(n)
        let sf = 10 * Self.slope(ages, f["age=1"]!) / mf
        let pairedF = 10 * Self.slope(ages, zip(f["age=1"]!, f["age=0"]!).map { $0 / $1 - 1 })
        let pairedO = 10 * Self.slope(ages, zip(o["age=1"]!, o["age=0"]!).map { $0 / $1 - 1 })
        print(String(format: "frontal %.1f%%/decade (cohort), age effect alone: frontal %.1f%%, visual %.1f%% per decade", 100 * sf, 100 * pairedF, 100 * pairedO))
        XCTAssertLessThan(sf, 0, "frontal SUVR falls with age across the cohort")
        XCTAssertLessThan(pairedF, -0.03)
        XCTAssertLessThan(pairedF, pairedO, "frontal declines faster than visual cortex")
        // Exactly: with only age on, SUVR falls monotonically with age.
        let gen = try Fixtures.generator(voxel: 4, parameters: Self.parameters("all=0,age=1"))
        let atlas = GridAtlas(anatomy: gen.anatomy, grid: gen.grid)
        let frontal = atlas.voxels(codes: PhantomParameters.frontalCodes, gmMin: 0)
        let vols = try (0..<6).map { try gen.generate(index: $0, className: "NC", seed: Draw.derivedSeed(56, UInt64($0))) }
            .sorted { $0.subject.age! < $1.subject.age! }
        for (a, b) in zip(vols, vols.dropFirst()) where b.subject.age! > a.subject.age! {
            XCTAssertLessThan(GridAtlas.mean(b.values, frontal), GridAtlas.mean(a.values, frontal))
        }
    }

    func testHemisphericAsymmetryIsPresentAndGoneWhenOff() throws {
        let atlas = GridAtlas(anatomy: try Fixtures.anatomy(voxel: 4), grid: Fixtures.grid(voxel: 4))
        let pairs = PhantomParameters.cortexCodes.filter { $0 % 10 == 1 }
        func logRatios(_ effects: String) throws -> [Double] {
            let gen = try Fixtures.generator(voxel: 4, parameters: Self.parameters(effects))
            let v = try gen.generate(index: 0, className: "NC", seed: 77)
            return pairs.map { log(atlas.ratio(v.values, codes: [$0], reference: atlas.voxels(codes: [$0 + 1], gmMin: 0))) }
        }
        let base = try logRatios("all=0"), on = try logRatios("all=0,asymmetry=1"), off = try logRatios("all=0,asymmetry=0")
        let d = zip(on, base).map { $0 - $1 }
        let sd = (d.map { $0 * $0 }.reduce(0, +) / Double(d.count)).squareRoot()
        print(String(format: "L/R asymmetry added: RMS %.2f%%", 100 * sd))
        XCTAssertGreaterThan(sd, 0.005)
        XCTAssertEqual(off, base)
    }

    func testAtrophyAndVentriclesGrowWithAgeAndDiseaseAndVanishWhenOff() throws {
        let p = try Self.parameters("all=0,atrophy=1,age=1,disease=1")
        let gen = try Fixtures.generator(voxel: 4, parameters: p)
        let atlas = GridAtlas(anatomy: gen.anatomy, grid: gen.grid)
        // Around the lateral ventricles: CSF is cold, so more ventricle = lower mean there.
        let c = p.ventricleCentreMM
        let inv = gen.grid.affine
        var ventricular: [Int] = []
        for k in 0..<gen.grid.shape[0] { for j in 0..<gen.grid.shape[1] { for i in 0..<gen.grid.shape[2] {
            let (x, y, z) = inv.apply(Double(i), Double(j), Double(k))
            if pow((abs(x) - c[0]) / 3, 2) + pow((y - c[1]) / 12, 2) + pow((z - c[2]) / 4, 2) < 1 { ventricular.append((k * gen.grid.shape[1] + j) * gen.grid.shape[2] + i) }
        } } }
        let cortex = atlas.voxels(codes: PhantomParameters.cortexCodes, gmMin: 0)
        let nc = try gen.generate(index: 0, className: "NC", seed: 31)
        let ad = try gen.generate(index: 0, className: "AD", seed: 31)
        XCTAssertGreaterThan(ad.subject.ventricleExpansion, nc.subject.ventricleExpansion)
        XCTAssertGreaterThan(ad.subject.corticalAtrophy, nc.subject.corticalAtrophy)
        XCTAssertLessThan(GridAtlas.mean(ad.values, ventricular), GridAtlas.mean(nc.values, ventricular))
        // Age: the older of two NC subjects has more of both.
        let a = try gen.drawSubject(index: 0, className: "NC", seed: 31), b = try gen.drawSubject(index: 1, className: "NC", seed: 32)
        let (young, old) = a.age! < b.age! ? (a, b) : (b, a)
        XCTAssertLessThan(young.corticalAtrophy, old.corticalAtrophy)
        XCTAssertLessThan(young.ventricleExpansion, old.ventricleExpansion)
        let (co, cy) = (GridAtlas.mean(gen.synthesize(old).values, cortex), GridAtlas.mean(gen.synthesize(young).values, cortex))
        print("ages \(young.age!) / \(old.age!): cortical atrophy \(young.corticalAtrophy) / \(old.corticalAtrophy), cortex SUVR \(cy) / \(co)")
        XCTAssertLessThan(co, cy)
        // Off: nothing of it is drawn, and the volume is the one without atrophy.
        let offGen = try Fixtures.generator(voxel: 4, parameters: Self.parameters("all=0,atrophy=0,age=1,disease=1"))
        let off = try offGen.drawSubject(index: 0, className: "AD", seed: 31)
        XCTAssertEqual(off.corticalAtrophy, 0); XCTAssertEqual(off.ventricleExpansion, 0); XCTAssertEqual(off.atrophy, 0)
    }

    func testVariantsAtTheTableFrequenciesAndOnlyTypicalWhenOff() throws {
        let gen = try Fixtures.generator(voxel: 4)
        let lit = try LiteratureTable.load(path: CalibrationTests.docPath, regions: gen.anatomy.regions)
        let n = 2000
        let subjects = try (0..<n).map { try gen.drawSubject(index: $0, className: "AD", seed: Draw.derivedSeed(909, UInt64($0))) }
        let model = PhantomParameters().classModel(named: "AD")!
        var bySubtype: [String: Int] = [:]
        for s in subjects {
            let v = model.variants.first { $0.name == s.variant }
            bySubtype[v?.subtype ?? ClassModel.typical, default: 0] += 1
        }
        print("AD presentations in \(n) draws: \(bySubtype)")
        for (subtype, count) in bySubtype {
            let want = try XCTUnwrap(lit.variantFrequencies[subtype], "subtype \(subtype) is not in the table")
            let se = (want * (1 - want) / Double(n)).squareRoot()
            XCTAssertEqual(Double(count) / Double(n), want, accuracy: 4 * se, subtype)
        }
        XCTAssertEqual(Set(bySubtype.keys), Set(["typical", "hippocampal-sparing", "limbic-predominant"]))
        // MCI is a mixture: near-normal and prodromal AD.
        let mci = try (0..<400).map { try gen.drawSubject(index: $0, className: "MCI", seed: Draw.derivedSeed(910, UInt64($0))) }
        let nearNormal = Double(mci.filter { $0.variant == "nearNormal" }.count) / 400
        XCTAssertEqual(nearNormal, 0.4, accuracy: 0.1)
        // Off: every AD subject is typical, with the class's own reductions.
        let off = try Fixtures.generator(voxel: 4, parameters: Self.parameters("variants=0"))
        let typical = try (0..<300).map { try off.drawSubject(index: $0, className: "AD", seed: Draw.derivedSeed(909, UInt64($0))) }
        XCTAssertTrue(typical.allSatisfy { $0.variant == ClassModel.typical })
        XCTAssertTrue(typical.allSatisfy { Set($0.reductions.keys) == Set(model.reductions.keys) })
        // Severity continuum: the MMSE-like score falls with severity within AD.
        let sev = subjects.prefix(500).map(\.severity), mmse = subjects.prefix(500).map { $0.mmse! }
        XCTAssertLessThan(Self.slope(sev, mmse), -5)
        XCTAssertTrue(subjects.allSatisfy { ($0.mmse ?? -1) >= 0 && ($0.mmse ?? 99) <= 30 })
    }

    func testScannerEffectsSpreadAndCollapseWhenOff() throws {
        let on = try Fixtures.generator(voxel: 4), off = try Fixtures.generator(voxel: 4, parameters: Self.parameters("resolution=0,noise=0,misregistration=0,deformation=0,globalScale=0"))
        let p = PhantomParameters()
        let a = try (0..<50).map { try on.drawSubject(index: $0, className: "NC", seed: UInt64(500 + $0)) }
        let b = try (0..<50).map { try off.drawSubject(index: $0, className: "NC", seed: UInt64(500 + $0)) }
        XCTAssertTrue(a.allSatisfy { $0.psfFWHMmm >= p.psfFWHMmm.lo && $0.psfFWHMmm <= p.psfFWHMmm.hi })
        XCTAssertGreaterThan(a.map(\.psfFWHMmm).max()! - a.map(\.psfFWHMmm).min()!, 0.5 * (p.psfFWHMmm.hi - p.psfFWHMmm.lo))
        XCTAssertTrue(b.allSatisfy { $0.psfFWHMmm == p.psfFWHMmm.mid && $0.noiseCoV == 0 && $0.displacementMaxMM == 0 && $0.globalScale == 1 })
        XCTAssertTrue(b.allSatisfy { $0.rotationDegrees == [0, 0, 0] && $0.translationMM == [0, 0, 0] })
        // Everything else is drawn the same (effects scale draws, they do not shift the random stream).
        XCTAssertEqual(a.map(\.age), b.map(\.age))
        XCTAssertEqual(a.map(\.regionalFactors), b.map(\.regionalFactors))
    }

    func testEffectsParseValidateAndRoundTrip() throws {
        var e = EffectScales()
        try e.apply("age=0,variants=0.5")
        XCTAssertEqual(e[.age], 0); XCTAssertEqual(e[.variants], 0.5); XCTAssertEqual(e[.noise], 1)
        try e.apply("all=0,noise=2")
        XCTAssertTrue(PhantomEffect.allCases.allSatisfy { e[$0] == ($0 == .noise ? 2 : 0) })
        for (text, needle) in [("agee=0", "unknown effect 'agee'"), ("age=-1", "outside"), ("age", "not name=scale"),
                               ("age=x", "not a number"), ("", "name=scale pairs"), ("age=9", "outside")] {
            var f = EffectScales()
            XCTAssertThrowsError(try f.apply(text), text) { err in XCTAssertTrue("\(err)".contains(needle), "\(text): \(err)") }
        }
        var p = PhantomParameters()
        p.effects = e
        let back = try JSONDecoder().decode(PhantomParameters.self, from: try p.jsonData())
        XCTAssertEqual(back.effects, e)
        let partial = try JSONDecoder().decode(PhantomParameters.self, from: Data(#"{"effects": {"age": 0}}"#.utf8))
        XCTAssertEqual(partial.effects[.age], 0); XCTAssertEqual(partial.effects[.sex], 1)
        XCTAssertThrowsError(try JSONDecoder().decode(PhantomParameters.self, from: Data(#"{"effects": {"aeg": 0}}"#.utf8))) { err in
            XCTAssertTrue(describe(err).contains("unknown effect 'aeg'"), describe(err))
        }
        // Variants scaled past a total frequency of 1 are refused.
        var q = PhantomParameters(); q.effects[.variants] = 5
        XCTAssertThrowsError(try q.validate()) { err in XCTAssertTrue("\(err)".contains("variant frequencies"), "\(err)") }
    }

    func testCovariatesRoundTripThroughStoreAndSidecarsAndOldRecordsLoad() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = dir + "/c.h5"
        let plan = try CohortPlan(count: 4, classNames: ["NC", "MCI", "AD"], proportions: nil, seed: 3)
        var req = CohortRequest(grid: Fixtures.grid(voxel: 4), plan: plan, outputPath: out)
        req.niftiDirectory = dir + "/nii"
        _ = try PhantomCohort.build(req, anatomy: try Fixtures.anatomy(voxel: 4))
        let subjects = try PhantomCohort.readSubjects(out)
        let gen = try Fixtures.generator(voxel: 4)
        for (s, e) in zip(subjects, plan.subjects) {
            XCTAssertEqual(s, try gen.drawSubject(index: e.index, className: e.className, seed: e.seed))
            XCTAssertNotNil(s.age); XCTAssertNotNil(s.sex); XCTAssertNotNil(s.mmse); XCTAssertNotNil(s.variant)
            let sidecar = dir + "/nii/\(s.id)_\(s.className)_pet.json"
            let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: sidecar))) as? [String: Any])
            let cov = try XCTUnwrap(json["covariates"] as? [String: Any], "\(sidecar)")
            XCTAssertEqual(try XCTUnwrap(cov["age"] as? Double), try XCTUnwrap(s.age as Double?), accuracy: 1e-12)
            XCTAssertEqual(cov["sex"] as? String, s.sex?.rawValue)
            XCTAssertEqual(try XCTUnwrap(cov["mmse"] as? Double), try XCTUnwrap(s.mmse as Double?), accuracy: 1e-12)
            XCTAssertEqual(cov["variant"] as? String, s.variant)
            XCTAssertEqual(try XCTUnwrap(cov["severity"] as? Double), try XCTUnwrap(s.severity as Double?), accuracy: 1e-12)
            XCTAssertEqual(try XCTUnwrap(cov["psfFWHMmm"] as? Double), try XCTUnwrap(s.psfFWHMmm as Double?), accuracy: 1e-12)
            XCTAssertEqual(try XCTUnwrap(cov["noiseCoV"] as? Double), try XCTUnwrap(s.noiseCoV as Double?), accuracy: 1e-12)
        }
        // A record written before the covariates existed still loads: covariates nil, no atrophy.
        var old = try XCTUnwrap(JSONSerialization.jsonObject(with: JSONEncoder().encode(subjects[0])) as? [String: Any])
        for k in ["age", "sex", "variant", "mmse", "corticalAtrophy", "ventricleExpansion"] { old[k] = nil }
        let back = try JSONDecoder().decode(SubjectParameters.self, from: JSONSerialization.data(withJSONObject: old))
        XCTAssertNil(back.age); XCTAssertNil(back.sex); XCTAssertNil(back.variant); XCTAssertNil(back.mmse)
        XCTAssertEqual(back.corticalAtrophy, 0); XCTAssertEqual(back.ventricleExpansion, 0)
        XCTAssertEqual(back.regionalFactors, subjects[0].regionalFactors)
        // Old parameters (classes without the new keys) load with those keys at "absent" values.
        let oldClass = #"{"classes": [{"name": "NC", "severityBeta": [3, 3], "reductions": {}, "atrophy": [0, 0]}]}"#
        let p = try JSONDecoder().decode(PhantomParameters.self, from: Data(oldClass.utf8))
        XCTAssertEqual(p.classes[0].variants, []); XCTAssertEqual(p.classes[0].corticalAtrophy, .fixed(0))
        XCTAssertNoThrow(try p.validate())
    }
}
