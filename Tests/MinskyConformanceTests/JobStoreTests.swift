import Foundation
import MinskyCore
import MinskyTestSupport
import Testing

/// Jobs (MCP tasks) keep their state in the store, the same on both: created, read, moved on
/// only from the status a writer expects, heartbeats that bring a cancellation back.
@Suite("Jobs in the store")
struct JobStoreTests {
    @Test(arguments: StoreKind.allCases)
    func jobsAreStoredComparedAndSetAndCancelledTheSameEverywhere(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let now = Timestamp.now()
            var job = Job(
                id: Job.newID(), tool: "decompose_task", arguments: ["id": "mk-a", "max": 3], message: "started",
                createdAt: now)
            job.client = ["name": "tests", "sampling": false, "elicitation": true]
            job.runner = "host:1:abc"
            job.heartbeatAt = now
            try await store.createJob(job)
            let read = try await store.job(job.id)
            #expect(read.tool == "decompose_task" && read.arguments == job.arguments && read.client == job.client)
            #expect(read.status == .working && read.runner == "host:1:abc" && read.message == "started")
            #expect(read.createdAt == now && read.ttlMs == Job.defaultTTLMs && !read.cancelRequested)
            await expectError(.notFound, field: "taskId") { _ = try await store.job("job-none") }

            // A heartbeat from the runner keeps it alive and carries progress; a cancellation
            // requested elsewhere comes back with the next one.
            #expect(try await store.touchJob(job.id, runner: "host:1:abc", message: "2 of 5") == false)
            #expect(try await store.job(job.id).message == "2 of 5")
            try await store.requestJobCancel(job.id)
            #expect(try await store.touchJob(job.id, runner: "host:1:abc", message: nil) == true)
            await expectError(.notFound, field: "taskId") { try await store.requestJobCancel("job-none") }

            // Written only from the status expected: the first writer wins, the second sees it.
            var done = read
            done.status = .completed
            done.result = ["content": [], "isError": false]
            done.runner = nil
            #expect(try await store.saveJob(done, expecting: .working))
            var late = read
            late.status = .failed
            #expect(try await store.saveJob(late, expecting: .working) == false)
            let final = try await store.job(job.id)
            #expect(final.status == .completed && final.result == done.result && final.runner == nil)
            #expect(final.cancelRequested, "the request stays recorded")

            // Input required: the questions and answers so far are kept as JSON.
            var asking = Job(id: Job.newID(), tool: "upgrade_store", arguments: [:], createdAt: now)
            try await store.createJob(asking)
            asking.status = .inputRequired
            asking.inputRequests = ["confirm-0": ["method": "elicitation/create", "params": ["message": "ok?"]]]
            asking.inputResponses = ["sample-0": ["role": "assistant"]]
            #expect(try await store.saveJob(asking, expecting: .working))
            let waiting = try await store.job(asking.id)
            #expect(waiting.inputRequests == asking.inputRequests && waiting.inputResponses == asking.inputResponses)
            #expect(try await store.jobs(limit: 10).map(\.id).sorted() == [job.id, asking.id].sorted())

            // A day later both are gone.
            #expect(try await store.deleteExpiredJobs(now: now.adding(seconds: 2 * 86_400)) == 2)
            #expect(try await store.jobs(limit: 10).isEmpty)
        }
    }
}
