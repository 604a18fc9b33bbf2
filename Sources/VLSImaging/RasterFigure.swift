import Foundation

/// A raster image as a figure (heatmap overlays, image grids): drawn 1:1, so the PNG has
/// exactly the image's pixels and the SVG embeds them.
public struct RasterFigure: Figure, Sendable {
    public let raster: Image
    public init(_ image: Image) { raster = image }
    public var width: Int { raster.width }
    public var height: Int { raster.height }
    public func validate() throws(ImagingError) {}
    public func draw(_ c: Canvas) { c.image(raster, 0, 0) }
}
