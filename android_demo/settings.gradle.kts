pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()        // CameraX, AndroidX, MediaPipe Tasks
        mavenCentral()  // org.pytorch:executorch-android, fbjni, soloader
    }
}

rootProject.name = "EdgeSdkDemo"
include(":app")
