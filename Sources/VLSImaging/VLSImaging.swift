/// Imaging: PNG/JPEG decode and encode, Pillow-exact resampling, IDX datasets, figures.
public enum VLSImagingInfo {}
