import Foundation
import Testing
@testable import KennelData

struct DatasetSplitTests {
    @Test func everyFifthSortedFileIsTest() {
        let names = (0..<12).map { "img\(String(format: "%02d", $0)).jpg" }.shuffled()
        let (train, test) = DatasetSplit.split(names)
        #expect(test == ["img00.jpg", "img05.jpg", "img10.jpg"])
        #expect(train.count == 9)
        #expect(Set(train).isDisjoint(with: test))
    }

    @Test func indexRule() {
        #expect((0..<10).map(DatasetSplit.forSortedIndex) ==
                [.test, .train, .train, .train, .train, .test, .train, .train, .train, .train])
    }
}
