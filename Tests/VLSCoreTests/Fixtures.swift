import Foundation
import XCTest
@testable import VLSCore

/// Locates the committed fixtures (Tests/Fixtures) from this source file.
enum Fixtures {
    static let root: String = {
        let here = URL(fileURLWithPath: #filePath)
        return here.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures").path
    }()

    static func model(_ name: String) -> String { root + "/models/" + name }

    static func temporaryDirectory() -> String {
        let dir = NSTemporaryDirectory() + "vls-tests-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }
}

/// max|a - b| / max(1, max|b|): the relative error the parity tests bound.
func relativeError(_ a: Tensor, _ b: Tensor) -> Float {
    let x = a.scalars, y = b.scalars
    var diff: Float = 0, scale: Float = 1
    for (u, v) in zip(x, y) {
        diff = max(diff, abs(u - v))
        scale = max(scale, abs(v))
    }
    return diff / scale
}

/// Captures copies of the hook points it is given.
final class Recorder: HookHandler {
    let points: Set<HookPoint>
    var values: [HookPoint: Tensor] = [:]
    init(_ points: [HookPoint]) { self.points = Set(points) }
    func wants(_ point: HookPoint) -> Bool { points.contains(point) }
    func visit(_ point: HookPoint, _ value: inout Tensor) throws { values[point] = value.copy() }
}
