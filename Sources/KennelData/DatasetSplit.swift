/// Which part of a dataset an example belongs to.
public enum DatasetSplit: String, Sendable, Codable, CaseIterable {
    case train
    case test

    /// The seed's rule, applied per class: with the class's files in sorted order, every fifth file
    /// (index % 5 == 0) goes to test, so about 20% of each class is held out.
    public static func forSortedIndex(_ index: Int) -> DatasetSplit {
        precondition(index >= 0, "file index must not be negative")
        return index % 5 == 0 ? .test : .train
    }

    /// Splits one class's file names by the seed's rule after sorting them, so the split does not depend on
    /// the order a directory listing returns.
    public static func split(_ names: [String]) -> (train: [String], test: [String]) {
        var train: [String] = []
        var test: [String] = []
        for (index, name) in names.sorted().enumerated() {
            switch forSortedIndex(index) {
            case .train: train.append(name)
            case .test: test.append(name)
            }
        }
        return (train, test)
    }
}
