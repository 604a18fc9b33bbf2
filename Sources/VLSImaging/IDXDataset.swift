import Foundation

/// A labelled image set read from a pair of IDX files (images and labels).
public struct IDXDataset: Sendable {
    /// The [N, rows, cols] image file.
    public let images: IDXFile
    /// The labels, one per image.
    public let labels: [Int]
    /// Class names indexed by label.
    public let classNames: [String]

    /// Fashion-MNIST class names, in label order.
    public static let fashionMNISTClasses = [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ]

    /// Where Debian's `dataset-fashion-mnist` installs the files.
    public static let fashionMNISTDirectory = "/usr/share/datasets/fashion-mnist"

    /// Pairs an image file with a label file, checking counts and label range.
    public init(imagesPath: String, labelsPath: String, classNames: [String]) throws(ImagingError) {
        let images = try IDXFile(contentsOf: imagesPath)
        let labelFile = try IDXFile(contentsOf: labelsPath)
        guard images.shape.count == 3 else {
            throw ImagingError.file(imagesPath, "expected [N, rows, cols] images, got shape \(images.shape)", what: "IDX file")
        }
        let labels = try labelFile.labels()
        guard labels.count == images.count else {
            throw ImagingError("IDX files disagree: '\(imagesPath)' has \(images.count) images but '\(labelsPath)' has \(labels.count) labels")
        }
        if let bad = labels.first(where: { $0 >= classNames.count }) {
            throw ImagingError.file(labelsPath, "label \(bad) has no class name (\(classNames.count) classes)", what: "IDX file")
        }
        self.images = images
        self.labels = labels
        self.classNames = classNames
    }

    /// Fashion-MNIST `split` ("train" or "test") from `directory` (gzip'd or plain files).
    public static func fashionMNIST(split: String, directory: String = fashionMNISTDirectory) throws(ImagingError) -> IDXDataset {
        let prefix: String
        switch split {
        case "train": prefix = "train"
        case "test", "t10k": prefix = "t10k"
        default: throw ImagingError("unknown Fashion-MNIST split '\(split)' (expected train or test)")
        }
        func find(_ stem: String) -> String {
            let plain = "\(directory)/\(prefix)-\(stem)"
            return FileManager.default.fileExists(atPath: plain) ? plain : plain + ".gz"
        }
        return try IDXDataset(imagesPath: find("images-idx3-ubyte"), labelsPath: find("labels-idx1-ubyte"),
                              classNames: fashionMNISTClasses)
    }

    /// Number of images.
    public var count: Int { images.count }

    /// Image i as RGB (gray replicated), ready for a `Preprocessing`.
    public func image(_ i: Int) throws(ImagingError) -> Image { try images.image(i) }
}
