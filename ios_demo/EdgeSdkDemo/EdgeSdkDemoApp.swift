import SwiftUI

@main
struct EdgeSdkDemoApp: App {
    var body: some Scene {
        WindowGroup {
            ContentView()
        }
    }
}
