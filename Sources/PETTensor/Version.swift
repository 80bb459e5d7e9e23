/// The PETGAN version recorded in every output file and checkpoint.
public enum PETGANVersion {
    public static let string = "0.1.0"
}
