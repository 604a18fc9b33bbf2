/// Core: tensors over OpenBLAS, safetensors, checkpoints, the ViT forward pass.
public enum VLSCoreInfo { public static let version = "0.1.0" }
