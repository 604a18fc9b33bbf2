import Foundation
import VLSCore
import VLSLanguage

/// The paper's dataset-level metrics (filled in by the lens issue).
func metricBuiltins(_ session: Session) -> [NativeFunction] {
    []
}
