import Foundation
import KennelHTTP
import KennelJobs
import KennelStore

extension Router.Builder {
    /// `/v1/datasets…`: import (as a job) and list.
    mutating func addDatasetRoutes(_ context: APIContext) {
        post("/v1/datasets", execution: .queue(context.work)) { request in
            try context.authorize(request)
            var spec = try request.decode(DatasetImportSpec.self)
            return .job(try APIErrors.map {
                if let root = context.datasetsRoot { spec.path = try DatasetCatalog.resolve(spec.path, under: root) }
                return try context.jobs.submit(spec)
            }, status: .accepted)
        }

        get("/v1/datasets") { request in
            let page = try PageRequest(request)
            let datasets = try context.store.read { db in
                try db.records(DatasetRecord.self, "WHERE name > ? ORDER BY name LIMIT ?", page.after ?? "", page.limit)
            }
            return page.response(datasets.map(DatasetBody.init), path: "/v1/datasets") { $0.name }
        }

        on(.delete, "/v1/datasets/{name}", execution: .queue(context.work)) { request in
            try context.authorize(request)
            let name = try request.parameters.require("name")
            try APIErrors.map { try context.jobs.catalog.delete(name) }
            return Response(status: .noContent)
        }

        get("/v1/datasets/{name}") { request in
            let name = try request.parameters.require("name")
            guard let dataset = try context.store.read({ try $0.record(DatasetRecord.self, "WHERE name = ?", name) }) else {
                throw HTTPError.notFound("no dataset named '\(name)'")
            }
            return .json(DatasetBody(dataset))
        }
    }
}
