import KennelData
import KennelEngine
import Testing
@testable import KennelJobs

/// A preset's recipe fills what a job leaves out, and only that.
struct RecipeTests {
    @Test func fashionBNJobsGetFlipsShiftsAndACosineOverTheRun() {
        let spec = TrainingSpec(dataset: "fashion", preset: "fashion-bn", epochs: 12, batchSize: 64,
                                optimizer: OptimizerConfig(name: .adam, learningRate: 0.001))
        let completed = spec.completedByRecipe(trainCount: 60_000)
        #expect(completed.augment == Augmentation(flip: true, shift: 2))
        #expect(completed.schedule?.name == "cosine")
        // 938 steps an epoch (the last one partial), 12 epochs.
        #expect(completed.schedule?.decaySteps == 12 * 938)
    }

    @Test func whatAJobSaysWinsAndOtherPresetsAreLeftAlone() {
        var spec = TrainingSpec(dataset: "fashion", preset: "fashion-bn", epochs: 2, batchSize: 32,
                                optimizer: OptimizerConfig(name: .adam, learningRate: 0.001))
        spec.augment = Augmentation(shift: 1)
        spec.schedule = ScheduleSpec(name: "constant")
        #expect(spec.completedByRecipe(trainCount: 100) == spec)
        let other = TrainingSpec(dataset: "fashion", preset: "fashion-convnet", epochs: 2, batchSize: 32,
                                 optimizer: OptimizerConfig(name: .adam, learningRate: 0.001))
        #expect(other.completedByRecipe(trainCount: 100) == other)
    }
}
